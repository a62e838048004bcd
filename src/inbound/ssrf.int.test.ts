import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import type { Json } from '../../test/support/webhooks.js';

/**
 * The SSRF guard on mailboxes: the IMAP host and the OAuth2 token URL (which receives the client
 * secret and the refresh token) are judged on save, naming the field and the rule, and the IMAP
 * host again when the watcher connects. FACTEUR_ALLOW_PRIVATE_TARGETS opens private ranges,
 * never cloud metadata; a token URL must be https unless it is such an allowed private host.
 */

const skip = await databaseSkipReason();

/** `imap.rebind.test` resolves to a public address once (the save), then to loopback. */
function rebindingLookup(): LookupFunction {
  let calls = 0;
  return (hostname, options, callback) => {
    const address = hostname === 'imap.rebind.test' && calls++ === 0 ? '93.184.216.34' : '127.0.0.1';
    if (options.all) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  };
}

const mailbox = (extra: Json = {}): Json => ({
  name: 'support',
  host: 'imap.example.com',
  port: 993,
  tls: 'implicit',
  auth: { type: 'password', user: 'alice', password: 'hunter2-secret' },
  ...extra,
});

const oauth = (tokenUrl: string): Json => ({
  type: 'oauth2',
  user: 'alice',
  clientId: 'facteur',
  clientSecret: 'client-secret',
  refreshToken: 'refresh',
  tokenUrl,
});

describe.skipIf(skip)('SSRF guard on mailboxes, private targets off', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur({ FACTEUR_ALLOW_PRIVATE_TARGETS: 'false' }, { lookup: rebindingLookup() });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'metadata'],
  ])('refuses the IMAP host %s on save, naming the field and the %s rule', async (host, rule) => {
    const answer = await app.request<Json>('POST', '/api/mailboxes', { body: mailbox({ host }) });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('TARGET_FORBIDDEN');
    expect(answer.body.error.details).toMatchObject({ field: 'host', address: host, rule });
  });

  it.each([
    ['https://127.0.0.1:9901/token', 'loopback'],
    ['https://10.0.0.1/token', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'metadata'],
  ])('refuses the token URL %s on save, naming the field and the %s rule', async (tokenUrl, rule) => {
    const answer = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '93.184.216.34', auth: oauth(tokenUrl) }),
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('TARGET_FORBIDDEN');
    expect(answer.body.error.details).toMatchObject({ field: 'auth.tokenUrl', rule });
    expect(JSON.stringify(answer.body)).not.toContain('client-secret');
  });

  it('refuses a plain-http token URL on a public host: it would carry the secrets in clear', async () => {
    const answer = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '93.184.216.34', auth: oauth('http://93.184.216.34/token') }),
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      expect.objectContaining({ field: 'auth.tokenUrl', message: expect.stringContaining('https') }),
    ]);
  });

  it('refuses a host changed by PATCH, and the connection to a name that now resolves to loopback', async () => {
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: 'imap.rebind.test', tls: 'none', port: 143 }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const patched = await app.request<Json>('PATCH', `/api/mailboxes/${created.body.id}`, {
      body: { host: '10.1.2.3' },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error.details).toMatchObject({ field: 'host', rule: 'private' });
    await vi.waitFor(
      async () => {
        const view = await app.request<Json>('GET', `/api/mailboxes/${created.body.id}`);
        expect(view.body.watchers[0]?.lastError).toMatchObject({
          code: 'TARGET_FORBIDDEN',
          message: expect.stringContaining('127.0.0.1 (imap.rebind.test): loopback'),
        });
      },
      { timeout: 15_000, interval: 50 },
    );
    await app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });
});

describe.skipIf(skip)('SSRF guard on mailboxes, FACTEUR_ALLOW_PRIVATE_TARGETS=true', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur({ FACTEUR_ALLOW_PRIVATE_TARGETS: 'true' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('accepts private hosts and a plain-http token URL on them, never metadata', async () => {
    const local = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', tls: 'none', port: 1, auth: oauth('http://127.0.0.1:9/token') }),
    });
    expect(local.status, JSON.stringify(local.body)).toBe(201);
    await app.request('DELETE', `/api/mailboxes/${local.body.id}`);
    for (const host of ['169.254.169.254', 'fd00:ec2::254']) {
      const answer = await app.request<Json>('POST', '/api/mailboxes', { body: mailbox({ host }) });
      expect([host, answer.status, answer.body.error?.details?.rule]).toEqual([host, 400, 'metadata']);
    }
    const token = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', auth: oauth('http://169.254.169.254/token') }),
    });
    expect(token.body.error.details).toMatchObject({ field: 'auth.tokenUrl', rule: 'metadata' });
  });
});
