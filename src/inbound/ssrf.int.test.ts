import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
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

/**
 * A DNS whose answers the test scripts: each lookup of a name takes the next of its addresses,
 * the last one repeating (a save resolves a name once, so `[public, private]` rebinds it after
 * the save). Names without answers do not resolve.
 */
function scriptedLookup(answers: Record<string, string[]>): LookupFunction {
  const taken: Record<string, number> = {};
  return (hostname, options, callback) => {
    const list = answers[hostname] ?? [];
    const index = Math.min(taken[hostname] ?? 0, list.length - 1);
    taken[hostname] = (taken[hostname] ?? 0) + 1;
    const address = list[index];
    if (address === undefined) {
      const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return options.all ? callback(error, []) : callback(error, '');
    }
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/** Waits until the mailbox's first watcher reports an error that satisfies `check`. */
async function waitForWatcherError(
  app: TestFacteur,
  id: string,
  check: (error: Json) => void,
): Promise<Json> {
  return vi.waitFor(
    async () => {
      const view = await app.request<Json>('GET', `/api/mailboxes/${id}`);
      const error = view.body.watchers[0]?.lastError;
      expect(error, JSON.stringify(view.body.watchers)).toBeTruthy();
      check(error);
      return error;
    },
    { timeout: 20_000, interval: 50 },
  );
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
  let provider: HttpReceiver;
  beforeAll(async () => {
    provider = await startHttpReceiver();
    app = await startTestFacteur({ FACTEUR_ALLOW_PRIVATE_TARGETS: 'true' });
  });
  afterAll(async () => {
    await app?.close();
    await provider?.close();
  });

  it('fetches a token from a loopback token URL over http, then connects to the loopback IMAP host', async () => {
    provider.respond({
      status: 200,
      body: { access_token: 'access-1', token_type: 'Bearer', expires_in: 3600 },
    });
    // Port 1: nothing listens, so the IMAP connection that follows the token exchange is refused.
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', tls: 'none', port: 1, auth: oauth(`${provider.url}/token`) }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const [request] = await provider.waitForRequests(1, 15_000);
    expect(request?.method).toBe('POST');
    expect(Object.fromEntries(new URLSearchParams(request?.text()))).toMatchObject({
      grant_type: 'refresh_token',
      client_secret: 'client-secret',
    });
    await waitForWatcherError(app, created.body.id, (error) =>
      expect(error.code).toBe('IMAP_CONNECT_FAILED'),
    );
    await app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });

  it('accepts private hosts and a plain-http token URL on them, never metadata', async () => {
    const local = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', tls: 'none', port: 1, auth: oauth('http://127.0.0.1:9/token') }),
    });
    expect(local.status, JSON.stringify(local.body)).toBe(201);
    await app.request('DELETE', `/api/mailboxes/${local.body.id}`);
    const lan = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ name: 'lan', host: '10.0.0.1' }),
    });
    expect(lan.status, JSON.stringify(lan.body)).toBe(201);
    await app.request('DELETE', `/api/mailboxes/${lan.body.id}`);
    for (const host of ['169.254.169.254', 'fd00:ec2::254', '::ffff:169.254.169.254']) {
      const answer = await app.request<Json>('POST', '/api/mailboxes', { body: mailbox({ host }) });
      expect([host, answer.status, answer.body.error?.details?.rule]).toEqual([host, 400, 'metadata']);
    }
    const token = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', auth: oauth('http://169.254.169.254/token') }),
    });
    expect(token.body.error.details).toMatchObject({ field: 'auth.tokenUrl', rule: 'metadata' });
  });
});

describe.skipIf(skip)('SSRF guard on mailboxes, FACTEUR_ALLOW_PRIVATE_TARGETS as a CIDR list', () => {
  const dns: Record<string, string[]> = {
    // https: public when the mailbox is saved, then a private address outside the list.
    'idp.rebind.test': ['93.184.216.34', '10.0.0.5'],
    // http: loopback (allowed, so http is accepted) when saved, then a public address.
    'idp.local.test': ['127.0.0.1', '93.184.216.34'],
  };
  let app: TestFacteur;
  let provider: HttpReceiver;
  beforeAll(async () => {
    provider = await startHttpReceiver();
    app = await startTestFacteur(
      { FACTEUR_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8' },
      { lookup: scriptedLookup(dns) },
    );
  });
  afterAll(async () => {
    await app?.close();
    await provider?.close();
  });

  it('allows IMAP hosts in the listed ranges only, never metadata', async () => {
    const local = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', tls: 'none', port: 1 }),
    });
    expect(local.status, JSON.stringify(local.body)).toBe(201);
    await app.request('DELETE', `/api/mailboxes/${local.body.id}`);
    for (const [host, rule] of [
      ['10.0.0.1', 'private'],
      ['::1', 'loopback'],
      ['169.254.169.254', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
    ]) {
      const answer = await app.request<Json>('POST', '/api/mailboxes', { body: mailbox({ host }) });
      expect([host, answer.status, answer.body.error?.code, answer.body.error?.details]).toEqual([
        host,
        400,
        'TARGET_FORBIDDEN',
        expect.objectContaining({ field: 'host', rule }),
      ]);
    }
  });

  it('accepts an http token URL only on a listed range, and asks https of the others', async () => {
    const local = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', auth: oauth('http://127.0.0.1:9/token') }),
    });
    expect(local.status, JSON.stringify(local.body)).toBe(201);
    await app.request('DELETE', `/api/mailboxes/${local.body.id}`);
    const lan = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', auth: oauth('http://10.0.0.1/token') }),
    });
    expect(lan.body.error).toMatchObject({
      code: 'TARGET_FORBIDDEN',
      details: { field: 'auth.tokenUrl', rule: 'private' },
    });
    const clear = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({ host: '127.0.0.1', auth: oauth('http://93.184.216.34/token') }),
    });
    expect(clear.body.error.code).toBe('VALIDATION_FAILED');
    expect(clear.body.error.message).toContain('auth.tokenUrl: must be an https URL');
  });

  it('refuses the token fetch when the token URL name now resolves to a refused address', async () => {
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({
        host: '127.0.0.1',
        tls: 'none',
        port: provider.port,
        auth: oauth('https://idp.rebind.test/token'),
      }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const error = await waitForWatcherError(app, created.body.id, (e) =>
      expect(e.code).toBe('TARGET_FORBIDDEN'),
    );
    expect(error.message).toContain('10.0.0.5 (idp.rebind.test): private addresses are not allowed');
    expect(provider.requests).toHaveLength(0);
    await app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });

  it('refuses an http token URL at fetch time when its name now resolves to a public address', async () => {
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: mailbox({
        host: '127.0.0.1',
        tls: 'none',
        port: provider.port,
        auth: oauth(`http://idp.local.test:${provider.port}/token`),
      }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const error = await waitForWatcherError(app, created.body.id, (e) =>
      expect(e.code).toBe('IMAP_OAUTH_FAILED'),
    );
    expect(error.message).toContain('must be an https URL');
    expect(provider.requests).toHaveLength(0);
    await app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });
});
