import { createInterface } from 'node:readline';
import { Accounts } from '../access/index.js';
import { AuditLog } from '../audit/index.js';
import { systemClock } from '../core/clock.js';
import type { BootConfig } from '../core/config/index.js';
import { ensureSecretKeyMatches, loadOrCreateSecretKey } from '../core/crypto/index.js';
import type { Store } from '../core/db/index.js';
import type { Logger } from '../core/observability/index.js';
import { commandLogger, configOrExit, openMigratedStore, print } from './shared.js';

/** `facteur user create|list`: people who sign in to the dashboard. */

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

async function withAccounts<T>(fn: (accounts: Accounts, config: BootConfig) => Promise<T>): Promise<T> {
  const config = configOrExit();
  const logger: Logger = commandLogger(config);
  const store: Store = await openMigratedStore(config, logger);
  try {
    const key = loadOrCreateSecretKey(config.dataDir, config.secretKey);
    await ensureSecretKeyMatches(store, key.key, systemClock.now());
    const audit = new AuditLog({ store, clock: systemClock, logger, retentionMs: config.audit.retentionMs });
    const accounts = new Accounts({
      store,
      clock: systemClock,
      logger,
      secretKey: key.key,
      audit,
      sessions: { idleMs: config.access.sessionIdleMs, maxAgeMs: config.access.sessionMaxAgeMs },
    });
    return await fn(accounts, config);
  } finally {
    await store.close();
  }
}

/** The first line of standard input (`--password-stdin`), without its line ending. */
async function firstLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return '';
}

/** Creates a user; `--admin` is `--role admin`. Without `--password-stdin` they sign in by emailed link. */
export async function userCreateCommand(options: {
  email: string;
  name?: string;
  role?: string;
  admin?: boolean;
  passwordStdin?: boolean;
  json?: boolean;
}): Promise<number> {
  const password = options.passwordStdin ? await firstLine() : undefined;
  const role = options.admin ? 'admin' : (options.role ?? 'viewer');
  return withAccounts(async (accounts, config) => {
    const user = await accounts.createUser(
      {
        email: options.email,
        name: options.name ?? options.email.split('@')[0],
        role,
        ...(password !== undefined ? { password } : {}),
      },
      { kind: 'system', name: 'facteur user create' },
    );
    if (options.json) {
      print(JSON.stringify(user));
      return 0;
    }
    print(`Created ${user.role} ${user.email} (${user.id}).`);
    const url =
      config.campaigns.publicUrl ??
      `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
    print(
      user.hasPassword
        ? `Sign in at ${url} with this email and password.`
        : `Sign in at ${url}: ask for an emailed sign-in link there (no password was set; give one with --password-stdin).`,
    );
    return 0;
  });
}

/** Lists users (never a password). */
export async function userListCommand(options: { json?: boolean }): Promise<number> {
  return withAccounts(async (accounts) => {
    const users = await accounts.list();
    if (options.json) {
      print(JSON.stringify(users));
      return 0;
    }
    if (users.length === 0) {
      print('No users. Create the first admin with `facteur user create --admin --email <email>`.');
      return 0;
    }
    print(
      [
        'EMAIL'.padEnd(32),
        'NAME'.padEnd(20),
        'ROLE'.padEnd(8),
        'PASSWORD',
        'CREATED'.padEnd(24),
        'DISABLED',
      ].join('  '),
    );
    for (const u of users) {
      print(
        [
          u.email.slice(0, 32).padEnd(32),
          u.name.slice(0, 20).padEnd(20),
          u.role.padEnd(8),
          (u.hasPassword ? 'yes' : 'no').padEnd(8),
          iso(u.createdAt).padEnd(24),
          iso(u.disabledAt),
        ].join('  '),
      );
    }
    return 0;
  });
}
