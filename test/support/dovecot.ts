import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import type { ServiceProbe } from './services.js';

/**
 * A private Dovecot (IMAP only, no TLS) for tests: its own config, maildir, sockets and log in a
 * fresh temp dir, on a free loopback port, run in the foreground (`dovecot -F -c`) as a child of the
 * test process. Never touches /etc/dovecot or the system service; several instances can run at once.
 * As root, Dovecot's own `dovecot`/`dovenull` users run it and mail belongs to the `dovecot` user;
 * as another user, everything runs as that user.
 */

/** The Dovecot binary the helper runs. */
export const DOVECOT_BIN = '/usr/sbin/dovecot';
const READY_TIMEOUT_MS = 15_000;
const GREETING = 'facteur-test dovecot ready';

/** A mail account of the instance. */
export interface DovecotUser {
  user: string;
  password: string;
}

/** Options of {@link startDovecot}. */
export interface DovecotOptions {
  /** Accounts to create; default one user `alice` / `secret`. */
  users?: DovecotUser[];
  /**
   * Also accept XOAUTH2 and OAUTHBEARER, validating each access token by POSTing it to this
   * RFC 7662 introspection URL (a local server standing in for the provider).
   */
  oauth2IntrospectionUrl?: string;
}

/** Connection settings accepted by `new ImapFlow(...)`. */
export interface DovecotImapConfig {
  host: string;
  port: number;
  secure: false;
  auth: { user: string; pass: string };
  logger: false;
}

/** Where {@link DovecotInstance.append} put a message. */
export interface AppendedMessage {
  uid: number;
  uidValidity: bigint;
}

/** A running (or stopped) private Dovecot instance. */
export interface DovecotInstance {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly users: readonly DovecotUser[];
  /** Dovecot's log file (all levels). */
  readonly logPath: string;
  /** The temp dir holding config, maildirs, sockets and log. */
  readonly dir: string;
  /** imapflow options for `user` (default: the first user). */
  imapConfig(user?: string): DovecotImapConfig;
  /** Appends a raw message to `folder` (created if missing) of `user`; returns its UID. */
  append(user: string, folder: string, rawMessage: string | Buffer): Promise<AppendedMessage>;
  /** Stops Dovecot and waits for it to exit; mail and config are kept. */
  stop(): Promise<void>;
  /** Stops Dovecot if running and starts it again on the same port with the same maildirs. */
  restart(): Promise<void>;
  /** Stops Dovecot and deletes the temp dir. */
  close(): Promise<void>;
}

interface Accounts {
  internalUser: string;
  internalGroup: string;
  loginUser: string;
  uid: number;
  gid: number;
  root: boolean;
}

/** Finds a line of /etc/passwd or /etc/group by its field at `index`. */
async function systemEntry(file: string, index: number, value: string): Promise<string[] | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[index] === value);
}

/** As root: Dovecot's own users, mail owned by `dovecot`. Otherwise: everything as the current user. */
async function accounts(): Promise<Accounts | string> {
  if (process.getuid?.() !== 0) {
    const me = userInfo();
    const group = (await systemEntry('/etc/group', 2, String(me.gid)))?.[0];
    if (!group) return `no group with gid ${me.gid} in /etc/group`;
    const self = { internalUser: me.username, internalGroup: group, loginUser: me.username };
    return { ...self, uid: me.uid, gid: me.gid, root: false };
  }
  const internal = await systemEntry('/etc/passwd', 0, 'dovecot');
  if (!internal) return 'the system user "dovecot" is missing (install dovecot-imapd)';
  if (!(await systemEntry('/etc/passwd', 0, 'dovenull'))) {
    return 'the system user "dovenull" is missing (install dovecot-imapd)';
  }
  const [uid, gid] = [Number(internal[2]), Number(internal[3])];
  return { internalUser: 'dovecot', internalGroup: 'dovecot', loginUser: 'dovenull', uid, gid, root: true };
}

/** Checks that Dovecot can be started here (binary and system users present). */
export async function probeDovecot(): Promise<ServiceProbe> {
  try {
    await access(DOVECOT_BIN, constants.X_OK);
  } catch {
    return { ok: false, reason: `${DOVECOT_BIN} not found or not executable (install dovecot-imapd)` };
  }
  const found = await accounts();
  return typeof found === 'string' ? { ok: false, reason: found } : { ok: true };
}

function dovecotConfig(dir: string, port: number, acc: Accounts, oauth2: boolean): string {
  const logPath = join(dir, 'dovecot.log');
  const noChroot = acc.root ? '' : '  chroot =\n';
  return `# Generated by test/support/dovecot.ts: a private test instance.
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = facteur-test
log_path = ${logPath}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ' xoauth2 oauthbearer' : ''}
auth_failure_delay = 0
auth_verbose = yes
login_greeting = ${GREETING}
default_internal_user = ${acc.internalUser}
default_internal_group = ${acc.internalGroup}
default_login_user = ${acc.loginUser}
first_valid_uid = ${acc.uid}
first_valid_gid = ${acc.gid}
mail_location = maildir:${dir}/mail/%u
mail_fsync = never
protocol imap {
  mail_max_userip_connections = 100
}
namespace inbox {
  inbox = yes
  separator = /
}
${
  oauth2
    ? `passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${dir}/oauth2.conf
}
`
    : ''
}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${acc.uid} gid=${acc.gid} home=${dir}/home/%u
}
service imap-login {
${noChroot}  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
${noChroot}  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

/** A loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('dovecot: no free port');
  return address.port;
}

/** Resolves true once the port greets with Dovecot's final `* OK ... ready` line. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (buffer.split('\r\n').some((line) => line.startsWith('* OK') && line.includes(GREETING))) done(true);
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Makes sure no Dovecot outlives the test process, even when a test forgets `close()`. */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of live) proc.kill('SIGTERM');
  });
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Resolves true when `child` exits within `timeoutMs`, false otherwise. */
async function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return true;
  return Promise.race([
    once(child, 'exit').then(
      () => true,
      () => true,
    ),
    sleep(timeoutMs, false, { ref: false }),
  ]);
}

async function tail(path: string, lines = 30): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '(no log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Starts Dovecot on `port` and waits until it greets; throws with its output and log tail on failure. */
async function launch(conf: string, port: number, logPath: string): Promise<ChildProcess> {
  const child = spawn(DOVECOT_BIN, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !spawnError && !hasExited(child)) {
    if (await greets(port)) return child;
    await sleep(50);
  }
  const exited = hasExited(child);
  if (!exited) {
    child.kill('SIGKILL');
    await waitExit(child, 2000);
  }
  const why = spawnError
    ? `could not run ${DOVECOT_BIN}: ${spawnError.message}`
    : exited
      ? `exited with ${child.exitCode ?? child.signalCode} before accepting connections`
      : `did not greet on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms`;
  throw new Error(
    `dovecot ${why}\n--- output ---\n${output.trim()}\n--- ${logPath} ---\n${await tail(logPath)}`,
  );
}

const addressInUse = (error: unknown) =>
  error instanceof Error && /Address already in use/.test(error.message);

/** Starts a private Dovecot instance with the given users (default `alice` / `secret`). */
export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotInstance> {
  const users = (options.users ?? [{ user: 'alice', password: 'secret' }]).map((u) => ({ ...u }));
  if (users.length === 0) throw new Error('dovecot: at least one user is needed');
  for (const { user, password } of users) {
    if (!/^[\w.@+-]+$/.test(user) || /[:\r\n]/.test(password)) {
      throw new Error(`dovecot: unsupported user name or password for "${user}"`);
    }
  }
  const acc = await accounts();
  if (typeof acc === 'string') throw new Error(`dovecot: ${acc}`);
  const dir = await mkdtemp(join(tmpdir(), 'facteur-dovecot-'));
  if (/\s/.test(dir)) throw new Error(`dovecot: the temp dir must not contain spaces: ${dir}`);
  // Dovecot's unprivileged processes must reach the maildirs and the passwd file.
  await chmod(dir, 0o755);
  for (const sub of ['mail', 'home']) {
    await mkdir(join(dir, sub));
    if (acc.root) await chown(join(dir, sub), acc.uid, acc.gid);
  }
  const passwd = users.map(({ user, password }) => `${user}:{PLAIN}${password}::::::\n`).join('');
  await writeFile(join(dir, 'passwd'), passwd);
  await chmod(join(dir, 'passwd'), 0o644); // read by the auth process (not root); umask-proof
  const conf = join(dir, 'dovecot.conf');
  const logPath = join(dir, 'dovecot.log');
  const oauth2 = options.oauth2IntrospectionUrl !== undefined;
  if (oauth2) {
    const settings = [
      'introspection_mode = post',
      `introspection_url = ${options.oauth2IntrospectionUrl}`,
      'username_attribute = username',
      'active_attribute = active',
      'active_value = true',
      'force_introspection = yes',
    ];
    await writeFile(join(dir, 'oauth2.conf'), `${settings.join('\n')}\n`);
    await chmod(join(dir, 'oauth2.conf'), 0o644);
  }

  let port = 0;
  let child: ChildProcess | undefined;
  const start = async (samePort: boolean) => {
    for (let attempt = 1; ; attempt++) {
      if (!samePort) port = await freePort();
      await writeFile(conf, dovecotConfig(dir, port, acc, oauth2));
      try {
        child = await launch(conf, port, logPath);
        return;
      } catch (error) {
        // Dovecot itself retries a busy port for a few seconds; only a random port is worth another try.
        if (!addressInUse(error) || samePort || attempt >= 5) throw error;
      }
    }
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    // The master waits ~1 s for its log process before exiting; terminating its children
    // along with it (Linux /proc, best effort) makes a stop take milliseconds.
    const children = await readFile(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').catch(() => '');
    proc.kill('SIGTERM');
    for (const pid of children.split(' ').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    if (!(await waitExit(proc, 5000))) {
      proc.kill('SIGKILL');
      await waitExit(proc, 2000);
    }
  };
  try {
    await start(false);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const imapConfig = (user?: string): DovecotImapConfig => {
    const account = user === undefined ? users[0] : users.find((u) => u.user === user);
    if (!account) throw new Error(`dovecot: no user "${user}"`);
    return {
      host: '127.0.0.1',
      port,
      secure: false,
      auth: { user: account.user, pass: account.password },
      logger: false,
    };
  };

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    users,
    logPath,
    dir,
    imapConfig,
    async append(user, folder, rawMessage) {
      const client = new ImapFlow({ ...imapConfig(user), disableAutoIdle: true });
      client.on('error', () => undefined);
      await client.connect();
      try {
        if (folder.toUpperCase() !== 'INBOX') await client.mailboxCreate(folder);
        const result = await client.append(folder, rawMessage);
        if (!result || result.uid === undefined || result.uidValidity === undefined) {
          throw new Error(`dovecot: APPEND to ${folder} returned no UID`);
        }
        return { uid: result.uid, uidValidity: result.uidValidity };
      } finally {
        await client.logout().catch(() => client.close());
      }
    },
    stop,
    async restart() {
      await stop();
      await start(true);
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
