import { accessSync, constants, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { systemClock } from '../core/clock.js';
import {
  type BootConfig,
  parseBootConfig,
  readEnvironment,
  redactUrl,
  VARIABLES,
} from '../core/config/index.js';
import { openStore, pendingMigrations } from '../core/db/index.js';
import { isAppError } from '../core/errors.js';
import { TargetGuard } from '../core/net/ssrf.js';
import { silentLogger } from '../core/observability/index.js';
import { buildTransports, SmtpTransport } from '../mail/index.js';
import { print } from './shared.js';

/**
 * `facteur config check`: every configuration problem at once, then whether the database and the
 * SMTP server (or each transport of FACTEUR_TRANSPORTS) can be reached. Exits 1 when anything
 * fails, so it can gate a deployment.
 */

interface CheckLine {
  name: string;
  ok: boolean;
  message: string;
  /** Transport lines: the transport's kind, and the error code when it failed. */
  kind?: string;
  code?: string;
}

/** Runs every check and prints them (or JSON); returns the exit code. */
export async function configCheckCommand(options: { json?: boolean }): Promise<number> {
  const env = readEnvironment();
  const parsed = parseBootConfig(env, { isTty: Boolean(process.stdout.isTTY) });
  const lines: CheckLine[] = [];
  for (const warning of parsed.warnings)
    lines.push({ name: warning.variable, ok: false, message: warning.message });
  if (!parsed.ok) {
    for (const problem of parsed.problems)
      lines.push({ name: problem.variable, ok: false, message: problem.message });
  } else {
    const known = new Set(VARIABLES.map((v) => v.name));
    const count = Object.keys(env).filter((name) => known.has(name) && env[name]?.trim()).length;
    lines.push({ name: 'variables', ok: true, message: `${count} FACTEUR_* variable(s) set; all valid` });
    lines.push(await checkDatabase(parsed.config));
    if (parsed.config.smtp.server || parsed.config.transports.length === 0)
      lines.push(await checkSmtp(parsed.config));
    else lines.push(...(await checkTransports(parsed.config)));
  }
  const ok = lines.every((l) => l.ok);
  if (options.json) {
    print(JSON.stringify({ ok, checks: lines }));
  } else {
    for (const line of lines) print(`${line.ok ? 'ok  ' : 'FAIL'}  ${line.name}: ${line.message}`);
    print(ok ? '\nConfiguration OK.' : '\nConfiguration has problems (see FAIL lines).');
  }
  return ok ? 0 : 1;
}

async function checkDatabase(config: BootConfig): Promise<CheckLine> {
  const { database } = config;
  if (database.kind === 'sqlite' && !existsSync(database.path)) {
    // A check must not create the database: say where it will be created and whether it can be.
    const parent = nearestExistingDirectory(dirname(database.path));
    try {
      accessSync(parent, constants.W_OK);
      return {
        name: 'database',
        ok: true,
        message: `sqlite:${database.path} does not exist yet; \`facteur serve\` will create it (${parent} is writable)`,
      };
    } catch {
      return {
        name: 'database',
        ok: false,
        message: `sqlite:${database.path} cannot be created: ${parent} is not writable`,
      };
    }
  }
  const store = openStore(config.database, { poolSize: 1 });
  try {
    await store.ping(5000);
    const pending = await pendingMigrations(store).catch(() => ['(cannot read the migration table)']);
    const schema =
      pending.length === 0
        ? 'schema up to date'
        : `${pending.length} migration(s) pending, applied by \`facteur migrate\` or at \`facteur serve\` start`;
    return { name: 'database', ok: true, message: `${store.location} reachable; ${schema}` };
  } catch (error) {
    const where = config.database.kind === 'postgres' ? redactUrl(config.database.url) : config.database.path;
    return { name: 'database', ok: false, message: `${where}: ${(error as Error).message}` };
  } finally {
    await store.close().catch(() => undefined);
  }
}

function nearestExistingDirectory(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

async function checkSmtp(config: BootConfig): Promise<CheckLine> {
  const server = config.smtp.server;
  if (!server) return checkCatcherPort(config.catcher.port);
  const transport = new SmtpTransport(
    { ...config.smtp, name: 'smtp', server },
    { clock: systemClock, logger: silentLogger() },
  );
  try {
    await transport.verify();
    const auth = server.user ? ', authentication accepted' : '';
    return {
      name: 'smtp',
      ok: true,
      message: `${server.host}:${server.port} reachable, greeting received${auth}`,
    };
  } catch (error) {
    const code = isAppError(error) ? ` [${error.code}]` : '';
    return {
      name: 'smtp',
      ok: false,
      message: `${server.host}:${server.port}${code}: ${(error as Error).message}`,
    };
  } finally {
    transport.close();
  }
}

/** What a transport's verify proves when it passes. */
const VERIFIED: Record<string, string> = {
  smtp: 'reachable, greeting received',
  postmark: 'API reachable, server token accepted (GET /server)',
  sendgrid: 'API reachable, API key accepted (GET /v3/scopes)',
  mailgun: 'API reachable, API key and sending domain accepted (GET /v3/domains/DOMAIN)',
  ses: 'API reachable, signed request accepted (GET /v2/email/account)',
};

/**
 * FACTEUR_TRANSPORTS: builds every transport as `serve` would (through the SSRF guard) and
 * verifies each without sending, all at once; one line per transport, in failover order.
 */
async function checkTransports(config: BootConfig): Promise<CheckLine[]> {
  const transports = buildTransports(config.transports, config.smtp, {
    clock: systemClock,
    logger: silentLogger(),
    guard: new TargetGuard(config.network.privateTargets),
  });
  const secrets = transportSecrets(config);
  try {
    return await Promise.all(
      transports.map(async (transport, index): Promise<CheckLine> => {
        const item = config.transports[index];
        const where =
          item?.kind === 'smtp' ? `${item.server.host}:${item.server.port}` : hostOf(item?.apiBase);
        const auth = item?.kind === 'smtp' && item.server.user ? ', authentication accepted' : '';
        const head = { name: `transport:${transport.name}`, kind: transport.kind };
        try {
          await transport.verify();
          return {
            ...head,
            ok: true,
            message: `${transport.kind} at ${where}: ${VERIFIED[transport.kind] ?? 'reachable'}${auth}`,
          };
        } catch (error) {
          const code = isAppError(error) ? error.code : undefined;
          const text = hide(String((error as Error)?.message ?? error), secrets);
          return {
            ...head,
            ok: false,
            ...(code ? { code } : {}),
            message: `${transport.kind} at ${where}${code ? ` [${code}]` : ''}: ${text}`,
          };
        }
      }),
    );
  } finally {
    for (const transport of transports) transport.close();
  }
}

/** The host (and port) of an API base, never its user part. */
function hostOf(apiBase: string | undefined): string {
  try {
    return new URL(apiBase ?? '').host;
  } catch {
    return '(unknown host)';
  }
}

/** Every key and password of FACTEUR_TRANSPORTS, as written and URL-encoded. */
function transportSecrets(config: BootConfig): string[] {
  const raw = config.transports.flatMap((t) => {
    switch (t.kind) {
      case 'smtp':
        return t.server.password ? [t.server.password] : [];
      case 'postmark':
        return [t.serverToken];
      case 'ses':
        return [t.secretAccessKey];
      default:
        return [t.apiKey];
    }
  });
  return [...new Set(raw.flatMap((s) => [s, encodeURIComponent(s)]))]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length);
}

/** `text` with every secret replaced by `***` (a library message must not carry one out). */
function hide(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** Without FACTEUR_SMTP_URL the catcher needs its port: free, or already served by a running Facteur. */
function checkCatcherPort(port: number): Promise<CheckLine> {
  const name = 'smtp';
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let banner = '';
    const done = (line: CheckLine): void => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(2000, () =>
      done({
        name,
        ok: false,
        message: `FACTEUR_SMTP_URL is unset and port ${port} is taken by something that does not answer SMTP`,
      }),
    );
    socket.on('data', (chunk) => {
      banner += chunk.toString('utf8');
      if (banner.includes('\n')) {
        const facteur = banner.includes('Facteur mail catcher');
        done({
          name,
          ok: facteur,
          message: facteur
            ? `FACTEUR_SMTP_URL is unset: a running Facteur's mail catcher answers on 127.0.0.1:${port}`
            : `FACTEUR_SMTP_URL is unset and port ${port} (FACTEUR_CATCHER_PORT) is used by another server: ${banner.trim().slice(0, 80)}`,
        });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      done(
        error.code === 'ECONNREFUSED'
          ? {
              name,
              ok: true,
              message: `FACTEUR_SMTP_URL is unset: mail goes to the built-in catcher on 127.0.0.1:${port} (port free)`,
            }
          : { name, ok: false, message: `cannot probe 127.0.0.1:${port}: ${error.message}` },
      ),
    );
  });
}
