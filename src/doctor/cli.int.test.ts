import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { runFacteur } from '../../test/support/process.js';
import { type ProviderServer, startPostmarkServer } from '../../test/support/providers.js';
import { type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';
import type { Json } from '../../test/support/webhooks.js';
import type { CheckReport } from './model.js';

/**
 * `facteur doctor` as an operator runs it: every check of the configuration (each transport of
 * FACTEUR_TRANSPORTS, SMTP or provider API, each mailbox, each active endpoint) from the
 * environment and the database, JSON or one line per stage, exit 1 when one fails, and no
 * password or API key in the output.
 */

const skip = await databaseSkipReason();
const SMTP_PASSWORD = 'smtp-secret-55x';
const IMAP_PASSWORD = 'imap-secret-77y';
const POSTMARK_TOKEN = 'postmark-token-66z';

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe.skipIf(skip)('facteur doctor', () => {
  let app: TestFacteur;
  let sink: SmtpSink;
  let receiver: HttpReceiver;
  let postmark: ProviderServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await startHttpReceiver();
    sink = await startSmtpSink({ users: { ada: SMTP_PASSWORD } });
    postmark = await startPostmarkServer({ token: POSTMARK_TOKEN });
    app = await startTestFacteur();
    const endpoint = await app.request<Json>('POST', '/api/endpoints', {
      body: { name: 'orders hook', url: `${receiver.url}/hook` },
    });
    expect(endpoint.status).toBe(201);
    const mailbox = await app.request<Json>('POST', '/api/mailboxes', {
      body: {
        name: 'gone imap',
        host: '127.0.0.1',
        port: await closedPort(),
        tls: 'none',
        auth: { type: 'password', user: 'alice', password: IMAP_PASSWORD },
      },
    });
    expect(mailbox.status).toBe(201);
    await app.stop(); // the CLI works from the database and the data directory (its secret key)
    env = {
      FACTEUR_DATABASE_URL: app.database.url,
      FACTEUR_DATA_DIR: app.facteur.config.dataDir,
      FACTEUR_TRANSPORTS: `${sink.url},${postmark.transportUrl()}`,
    };
  });
  afterAll(async () => {
    await app?.database.drop();
    if (app) rmSync(app.facteur.config.dataDir, { recursive: true, force: true });
    await sink?.close();
    await receiver?.close();
    await postmark?.close();
  });

  it('runs every check of the configuration, prints JSON, exits 1 when one fails, shows no password', async () => {
    const run = await runFacteur(['doctor', '--json'], env);
    expect(run.code, run.stderr).toBe(1);
    const output = JSON.parse(run.stdout) as { ok: boolean; checks: CheckReport[] };
    expect(output.ok).toBe(false);
    expect(output.checks.map((c) => [c.check, c.target, c.transport, c.ok])).toEqual([
      ['smtp', `smtp://127.0.0.1:${sink.port}`, 'smtp', true],
      ['provider', postmark.url, 'postmark', true],
      ['imap', 'gone imap', undefined, false],
      ['webhook', 'orders hook', undefined, true],
    ]);
    const smtp = output.checks[0] as CheckReport;
    expect(smtp.stages.find((s) => s.stage === 'auth')).toMatchObject({
      outcome: 'ok',
      detail: { user: 'ada' },
    });
    const provider = output.checks[1] as CheckReport;
    expect(provider.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['tcp', 'ok'],
      ['tls', 'skipped'],
      ['auth', 'ok'],
    ]);
    expect(postmark.received).toBe(0); // the check reads, it sends nothing
    const imap = output.checks[2] as CheckReport;
    expect(imap.stages.find((s) => s.outcome === 'failed')).toMatchObject({
      stage: 'tcp',
      errorCode: 'IMAP_CONNECT_FAILED',
    });
    expect(receiver.requests).toHaveLength(1);
    for (const secret of [SMTP_PASSWORD, IMAP_PASSWORD, POSTMARK_TOKEN]) {
      expect(run.stdout).not.toContain(secret);
      expect(run.stderr).not.toContain(secret);
    }
  });

  it('prints one line per stage with its hint, and exits 0 when the one check passes', async () => {
    const smtp = await runFacteur(['doctor', 'smtp'], env);
    expect(smtp.code, smtp.stderr).toBe(0);
    expect(smtp.stdout).toMatch(/^ {2}✓ auth \d+ ms {2}user=ada/m);
    expect(smtp.stdout).toMatch(/^ {2}- tls {2}\(starttls=off/m);
    expect(smtp.stdout).not.toContain(SMTP_PASSWORD);

    const imap = await runFacteur(['doctor', 'imap', 'gone imap'], env);
    expect(imap.code).toBe(1);
    expect(imap.stdout).toMatch(/^ {2}✗ tcp \d+ ms/m);
    expect(imap.stdout).toMatch(/^ {6}hint: nothing listens on port/m);
    expect(imap.stdout).not.toContain(IMAP_PASSWORD);

    const unknown = await runFacteur(['doctor', 'webhook', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error [NOT_FOUND]');
  });

  it('checks one transport by name; doctor smtp without an SMTP transport is a usage error', async () => {
    const wrong = 'postmark-wrong-token-91q';
    const bad = await runFacteur(['doctor', 'transport', 'postmark'], {
      ...env,
      FACTEUR_TRANSPORTS: postmark.transportUrl({ key: wrong }),
    });
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`^postmark ${postmark.url.replace(/\./g, '\\.')}$`, 'm'));
    expect(bad.stdout).toMatch(/^ {2}✗ auth \d+ ms {2}request=GET \/server {2}provider=postmark/m);
    expect(bad.stdout).toMatch(/^ {6}\[PROVIDER_AUTH\] postmark refused the credentials \(401\)/m);
    expect(bad.stdout).toMatch(/^ {6}hint: Postmark refused the server token/m);
    expect(bad.stdout).toContain('1 of 1 check(s) failed: provider');
    expect(`${bad.stdout}${bad.stderr}`).not.toContain(wrong);

    const relay = await runFacteur(['doctor', 'transport', 'smtp', '--json'], env);
    expect(relay.code, relay.stderr).toBe(0);
    expect(JSON.parse(relay.stdout)).toMatchObject({ check: 'smtp', transport: 'smtp', ok: true });

    const none = await runFacteur(['doctor', 'smtp'], {
      ...env,
      FACTEUR_TRANSPORTS: postmark.transportUrl(),
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error [VALIDATION_FAILED]');
    expect(none.stderr).toContain(
      'no SMTP relay is configured: FACTEUR_TRANSPORTS lists only provider transports (postmark (postmark))',
    );
    expect(none.stdout).toBe('');
  });
});
