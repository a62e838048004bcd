import { createApiKey, listKeys, parseRole, revokeKey } from '../access/index.js';
import { systemClock } from '../core/clock.js';
import { commandLogger, configOrExit, openMigratedStore, print } from './shared.js';

/** `facteur apikey create|list|revoke`: keys for the `/api/*` routes. */

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

/** Creates a key with its role (default admin: see the option's help) and prints it once. */
export async function apikeyCreateCommand(options: {
  name: string;
  role?: string;
  json?: boolean;
}): Promise<number> {
  const config = configOrExit();
  const logger = commandLogger(config);
  // Checked before the database is opened: a typo in --role is a usage error, not a failure.
  const role = parseRole(options.role ?? 'admin', '--role');
  const store = await openMigratedStore(config, logger);
  try {
    const created = await createApiKey({ store, clock: systemClock, logger }, options.name, role);
    if (options.json) print(JSON.stringify({ id: created.id, key: created.key, role: created.role }));
    else {
      print(`Created API key "${created.name}" (${created.id}) with the ${created.role} role.`);
      print('');
      print(`  ${created.key}`);
      print('');
      print('It is shown only this once: store it now. Use it as `Authorization: Bearer <key>`.');
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** Lists keys without their secrets. */
export async function apikeyListCommand(options: { json?: boolean }): Promise<number> {
  const config = configOrExit();
  const logger = commandLogger(config);
  const store = await openMigratedStore(config, logger);
  try {
    const keys = await listKeys({ store, clock: systemClock, logger });
    if (options.json) {
      print(
        JSON.stringify(
          keys.map((k) => ({
            ...k,
            createdAt: iso(k.createdAt),
            lastUsedAt: k.lastUsedAt && iso(k.lastUsedAt),
            revokedAt: k.revokedAt && iso(k.revokedAt),
          })),
        ),
      );
      return 0;
    }
    if (keys.length === 0) {
      print('No API keys. Create one with `facteur apikey create --name <name>`.');
      return 0;
    }
    print(
      [
        'ID'.padEnd(36),
        'PREFIX'.padEnd(12),
        'NAME'.padEnd(20),
        'ROLE'.padEnd(8),
        'CREATED'.padEnd(24),
        'LAST USED'.padEnd(24),
        'REVOKED',
      ].join('  '),
    );
    for (const k of keys) {
      print(
        [
          k.id,
          k.prefix.padEnd(12),
          k.name.slice(0, 20).padEnd(20),
          k.role.padEnd(8),
          iso(k.createdAt).padEnd(24),
          iso(k.lastUsedAt).padEnd(24),
          iso(k.revokedAt),
        ].join('  '),
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** Revokes a key by id or prefix; it stops working at once. */
export async function apikeyRevokeCommand(idOrPrefix: string, options: { json?: boolean }): Promise<number> {
  const config = configOrExit();
  const logger = commandLogger(config);
  const store = await openMigratedStore(config, logger);
  try {
    const key = await revokeKey({ store, clock: systemClock, logger }, idOrPrefix);
    if (options.json) print(JSON.stringify({ id: key.id, revokedAt: iso(key.revokedAt) }));
    else print(`Revoked API key "${key.name}" (${key.id}).`);
    return 0;
  } finally {
    await store.close();
  }
}
