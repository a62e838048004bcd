import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { LOOPBACK_TARGETS } from '../support/facteur.js';
import { runFacteur, startServe } from '../support/process.js';
import { startPostmarkServer, startSendgridServer } from '../support/providers.js';

const skip = await databaseSkipReason();

/** The `facteur` command as a newcomer and an operator use it. */
describe.skipIf(skip)('facteur CLI', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let cwd: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    cwd = mkdtempSync(join(tmpdir(), 'facteur-cli-'));
    env = { FACTEUR_DATABASE_URL: database.url, FACTEUR_CATCHER_PORT: '0' };
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('reports every invalid variable at once, naming each and the expected form', async () => {
    const bad = {
      ...env,
      FACTEUR_PORT: 'eighty',
      FACTEUR_SMTP_POOL_SIZE: '0',
      FACTEUR_LOG_LEVEL: 'loud',
      FACTEUR_SMTP_URL: 'http://mail',
      FACTEUR_PROT: '1',
    };
    const check = await runFacteur(['config', 'check'], bad, cwd);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/FAIL\s+FACTEUR_PORT: expected a TCP port number/);
    expect(check.stdout).toMatch(/FAIL\s+FACTEUR_SMTP_POOL_SIZE: expected a whole number from 1 to 100/);
    expect(check.stdout).toMatch(/FAIL\s+FACTEUR_LOG_LEVEL: expected one of: fatal, error/);
    expect(check.stdout).toMatch(/FAIL\s+FACTEUR_SMTP_URL: expected smtp:\/\//);
    expect(check.stdout).toMatch(
      /FAIL\s+FACTEUR_PROT: unknown variable; it has no effect \(did you mean FACTEUR_PORT\?\)/,
    );

    const serve = await runFacteur(['serve'], bad, cwd);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('CONFIG_INVALID');
    for (const name of ['FACTEUR_PORT', 'FACTEUR_SMTP_POOL_SIZE', 'FACTEUR_LOG_LEVEL', 'FACTEUR_SMTP_URL'])
      expect(serve.stderr).toContain(name);
  });

  it('checks that the database and the SMTP server can be reached', async () => {
    const unreachable = await runFacteur(
      ['config', 'check', '--json'],
      { ...env, FACTEUR_SMTP_URL: 'smtp://127.0.0.1:9?starttls=off', FACTEUR_SMTP_CONNECT_TIMEOUT: '1s' },
      cwd,
    );
    expect(unreachable.code).toBe(1);
    const report = JSON.parse(unreachable.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean; message: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'database')).toMatchObject({ ok: true });
    expect(report.checks.find((c) => c.name === 'smtp')).toMatchObject({
      ok: false,
      message: expect.stringContaining('SMTP_CONNECT'),
    });

    const noDatabase = await runFacteur(
      ['config', 'check'],
      { ...env, FACTEUR_DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none' },
      cwd,
    );
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stdout).toMatch(/FAIL\s+database: postgres:\/\/postgres@127\.0\.0\.1:9\/none/);
  });

  it('verifies every transport of FACTEUR_TRANSPORTS, one line each, without showing a key', async () => {
    const postmark = await startPostmarkServer();
    const sendgrid = await startSendgridServer();
    try {
      const transports = `${postmark.transportUrl()},${sendgrid.transportUrl({ key: 'SG.wrong-key-123' })}`;
      const check = await runFacteur(
        ['config', 'check'],
        { ...env, FACTEUR_TRANSPORTS: transports, FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS },
        cwd,
      );
      expect(check.code).toBe(1);
      const host = (url: string) => new URL(url).host;
      expect(check.stdout).toMatch(
        new RegExp(
          `^ok\\s+transport:postmark: postmark at ${host(postmark.url)}: API reachable, server token accepted`,
          'm',
        ),
      );
      expect(check.stdout).toMatch(
        new RegExp(
          `^FAIL\\s+transport:sendgrid: sendgrid at ${host(sendgrid.url)} \\[PROVIDER_AUTH\\]: sendgrid refused the credentials`,
          'm',
        ),
      );
      // No catcher line: the catcher is not used when transports are configured.
      expect(check.stdout).not.toMatch(/^\S+\s+smtp:/m);
      for (const secret of ['postmark-server-token', 'SG.wrong-key-123', 'SG.test-key'])
        expect(check.stdout + check.stderr).not.toContain(secret);
      expect(postmark.received + sendgrid.received).toBe(0); // verified, nothing sent

      const json = await runFacteur(
        ['config', 'check', '--json'],
        {
          ...env,
          FACTEUR_TRANSPORTS: `${postmark.transportUrl()},${sendgrid.transportUrl()}`,
          FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
        },
        cwd,
      );
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout) as { ok: boolean; checks: Array<Record<string, unknown>> };
      expect(report.ok).toBe(true);
      expect(report.checks.filter((c) => String(c.name).startsWith('transport:'))).toEqual([
        expect.objectContaining({ name: 'transport:postmark', kind: 'postmark', ok: true }),
        expect.objectContaining({ name: 'transport:sendgrid', kind: 'sendgrid', ok: true }),
      ]);
    } finally {
      await Promise.all([postmark.close(), sendgrid.close()]);
    }
  });

  it('creates a key shown once, lists keys without secrets, revokes them', async () => {
    const created = await runFacteur(['apikey', 'create', '--name', 'reports', '--json'], env, cwd);
    expect(created.code).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key).toMatch(/^fct_[A-Za-z0-9_-]{43}$/);
    const listed = await runFacteur(['apikey', 'list', '--json'], env, cwd);
    expect(listed.stdout).not.toContain(key);
    expect(JSON.parse(listed.stdout)).toContainEqual(
      // Without --role a key is admin, what every key could do before roles.
      expect.objectContaining({
        id,
        name: 'reports',
        role: 'admin',
        prefix: key.slice(0, 12),
        revokedAt: null,
      }),
    );
    const revoked = await runFacteur(['apikey', 'revoke', id], env, cwd);
    expect(revoked.code).toBe(0);
    const after = JSON.parse((await runFacteur(['apikey', 'list', '--json'], env, cwd)).stdout) as Array<{
      id: string;
      revokedAt: string | null;
    }>;
    expect(after.find((k) => k.id === id)?.revokedAt).toEqual(expect.any(String));
    const unknown = await runFacteur(['apikey', 'revoke', 'nope'], env, cwd);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NOT_FOUND');
  });

  it('creates keys with a role, shows it in the list, and names --role and its values for a bad one', async () => {
    const viewer = await runFacteur(
      ['apikey', 'create', '--name', 'dashboard', '--role', 'viewer'],
      env,
      cwd,
    );
    expect(viewer.code).toBe(0);
    expect(viewer.stdout).toContain('with the viewer role');
    const table = await runFacteur(['apikey', 'list'], env, cwd);
    expect(table.stdout).toMatch(/ROLE/);
    expect(table.stdout).toMatch(/dashboard\s+viewer/);
    const bad = await runFacteur(['apikey', 'create', '--name', 'typo', '--role', 'superuser'], env, cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--role');
    expect(bad.stderr).toContain('viewer, operator, admin');
    expect(bad.stderr).toContain('superuser');
    const help = await runFacteur(['apikey', 'create', '--help'], env, cwd);
    expect(help.stdout).toContain('--role <role>');
  });

  it('creates the first admin with `facteur user create --admin`, who signs in to the server', async () => {
    const created = await runFacteur(
      [
        'user',
        'create',
        '--admin',
        '--email',
        'Ada@Example.org',
        '--name',
        'Ada',
        '--password-stdin',
        '--json',
      ],
      env,
      cwd,
      'a long enough password\n',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      email: 'ada@example.org',
      role: 'admin',
      hasPassword: true,
    });
    const short = await runFacteur(
      ['user', 'create', '--email', 'bob@example.org', '--password-stdin'],
      env,
      cwd,
      'short\n',
    );
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('password');
    expect(short.stderr).toContain('at least 10 characters');
    const listed = await runFacteur(['user', 'list'], env, cwd);
    expect(listed.stdout).toMatch(/ada@example\.org\s+Ada\s+admin\s+yes/);
    expect(listed.stdout).not.toContain('scrypt');
    const server = await startServe(env, cwd);
    try {
      // A user exists: no setup link is printed.
      expect(server.stdout + server.stderr).not.toContain('access.setup_link');
      const login = await fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.org', password: 'a long enough password' }),
      });
      expect(login.status).toBe(200);
      expect(((await login.json()) as { user: { role: string } }).user.role).toBe('admin');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('serves on its defaults, sends through the catcher with `facteur send`, and drains on SIGTERM', async () => {
    const server = await startServe(env, cwd);
    try {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      const sent = await runFacteur(
        [
          'send',
          '--to',
          'Ada <ada@example.com>',
          '--subject',
          'From the CLI',
          '--text',
          'Hello',
          '--timeout',
          '30s',
        ],
        env,
        cwd,
      );
      expect(sent.stderr).toBe('');
      expect(sent.code).toBe(0);
      expect(sent.stdout).toMatch(/attempt 1: sent \(250 /);
      expect(sent.stdout).toMatch(/Sent: <[^>]+@localhost>/);
      const invalid = await runFacteur(
        ['send', '--to', 'not-an-address', '--subject', 'x', '--text', 'y'],
        env,
        cwd,
      );
      expect(invalid.code).toBe(2);
      expect(invalid.stderr).toMatch(/to\[0\]: "not-an-address" is not an email address/);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
    expect(server.stdout).toContain('"event":"facteur.stopped"');
  });
});
