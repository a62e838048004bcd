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
import { silentLogger } from '../core/observability/index.js';
import { SmtpTransport } from '../mail/index.js';
import { print } from './shared.js';

/**
 * `facteur config check`: every configuration problem at once, then whether the database and the
 * SMTP server can be reached. Exits 1 when anything fails, so it can gate a deployment.
 */

interface CheckLine {
  name: string;
  ok: boolean;
  message: string;
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
    lines.push(await checkSmtp(parsed.config));
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
