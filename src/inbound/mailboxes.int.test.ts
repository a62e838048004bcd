import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { serviceSkipReason } from '../../test/support/services.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';

/**
 * Mailboxes through the API: every bad field named, credentials sealed and never shown,
 * changes applied without a restart, and OAuth2 (XOAUTH2) end to end: the refresh token is
 * exchanged at a local token URL and Dovecot checks the access token against a local
 * introspection endpoint, standing in for the provider.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

describe.skipIf(skip)('mailboxes', () => {
  const suite = useWebhookSuite();
  let provider: HttpReceiver;
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    provider = await startHttpReceiver();
    dovecot = await startDovecot({ oauth2IntrospectionUrl: `${provider.url}/introspect` });
  });
  afterAll(async () => {
    await dovecot?.close();
    await provider?.close();
  });

  const base = (extra: Json = {}): Json => ({
    name: 'support',
    host: '127.0.0.1',
    port: 1143,
    tls: 'none',
    auth: { type: 'password', user: 'alice', password: 'hunter2-secret' },
    ...extra,
  });

  it('names every bad field', async () => {
    const answer = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: {
        ...base(),
        host: 'bad host!',
        port: 70_000,
        mode: 'push',
        pollInterval: '1ms',
        schedule: { weekdays: ['funday'], hours: { start: '25:00', end: '09:00' }, timeZone: 'Mars/Olympus' },
        afterHandled: { addFlag: 'has space' },
        startFrom: { lastDays: 0 },
        purpose: 'spam',
        colour: 'blue',
      },
    });
    expect(answer.status).toBe(400);
    const fields = (answer.body.error.details as Json[]).map((d) => d.field).sort();
    expect(fields).toEqual(
      [
        'afterHandled.addFlag',
        'colour',
        'host',
        'mode',
        'pollInterval',
        'port',
        'purpose',
        'schedule.hours.start',
        'schedule.timeZone',
        'schedule.weekdays[0]',
        'startFrom.lastDays',
      ].sort(),
    );
    const never = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({ schedule: { hours: { start: '09:00', end: '9h00' } } }),
    });
    expect(never.status).toBe(400);
    expect(never.body.error.details).toEqual([
      expect.objectContaining({
        field: 'schedule',
        message: expect.stringMatching(/starts and ends at 09:00/),
      }),
    ]);
    const loop = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({
        folders: ['INBOX', 'Done'],
        afterHandled: { moveTo: 'Done' },
        senderAllowlist: ['not an address'],
      }),
    });
    expect(loop.status).toBe(400);
    expect((loop.body.error.details as Json[]).map((d) => d.field)).toEqual([
      'afterHandled.moveTo',
      'senderAllowlist[0]',
    ]);
  });

  it('seals credentials: they are never shown, and a patch without auth keeps them', async () => {
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({ name: 'sealed' }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('hunter2');
    expect(created.body.auth).toEqual({ type: 'password', user: 'alice' });
    const row = await suite.app.facteur.store.db
      .selectFrom('mailboxes')
      .select(['config', 'secrets'])
      .where('id', '=', created.body.id)
      .executeTakeFirstOrThrow();
    expect(`${row.config}${row.secrets}`).not.toContain('hunter2');
    const patched = await suite.app.request<Json>('PATCH', `/api/mailboxes/${created.body.id}`, {
      body: { folders: ['INBOX', 'Orders'], startFrom: { lastDays: 7 } },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({
      folders: ['INBOX', 'Orders'],
      startFrom: { lastDays: 7 },
      port: 1143,
    });
    const mailbox = await suite.app.facteur.inbound.mailboxes.load(created.body.id);
    expect(mailbox.secrets.password).toBe('hunter2-secret');
    const paused = await suite.app.request<Json>('POST', `/api/mailboxes/${created.body.id}/pause`);
    expect(paused.body.status).toBe('paused');
    const taken = await suite.app.request<Json>('POST', '/api/mailboxes', { body: base({ name: 'sealed' }) });
    expect(taken.status).toBe(400);
    expect(taken.body.error.details).toEqual([expect.objectContaining({ field: 'name' })]);
    expect((await suite.app.request('DELETE', `/api/mailboxes/${created.body.id}`)).status).toBe(204);
    expect((await suite.app.request('GET', `/api/mailboxes/${created.body.id}`)).status).toBe(404);
  });

  it('shows its purpose: rules by default and for mailboxes stored before it existed, bounces when set', async () => {
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({ name: 'purposed' }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.purpose).toBe('rules');
    const id = created.body.id as string;
    const bounces = await suite.app.request<Json>('PATCH', `/api/mailboxes/${id}`, {
      body: { purpose: 'bounces' },
    });
    expect(bounces.status, JSON.stringify(bounces.body)).toBe(200);
    expect(bounces.body.purpose).toBe('bounces');
    const stored = await suite.app.facteur.inbound.mailboxes.load(id);
    expect(stored.settings.purpose).toBe('bounces');

    // A record written before the setting existed has no `purpose` in its stored config.
    const { purpose: _dropped, ...older } = stored.settings;
    await suite.app.facteur.store.db
      .updateTable('mailboxes')
      .set({ config: JSON.stringify(older) })
      .where('id', '=', id)
      .execute();
    suite.app.facteur.inbound.mailboxes.invalidate();
    expect((await suite.app.request<Json>('GET', `/api/mailboxes/${id}`)).body.purpose).toBe('rules');
    // A patch of such a record writes the default out.
    await suite.app.request('PATCH', `/api/mailboxes/${id}`, { body: { pollInterval: '1m' } });
    expect((await suite.app.facteur.inbound.mailboxes.load(id)).settings.purpose).toBe('rules');

    const openapi = await suite.app.request<Json>('GET', '/openapi.json', { auth: false });
    const text = JSON.stringify(openapi.body);
    expect(text).toContain('"enum":["rules","bounces"]');
    expect((await suite.app.request('DELETE', `/api/mailboxes/${id}`)).status).toBe(204);
  });

  it('reports a refused password in the watcher state and /readyz, then recovers after a fix', async () => {
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({
        name: 'wrong password',
        port: dovecot.port,
        auth: { type: 'password', user: 'alice', password: 'nope' },
      }),
    });
    expect(created.status).toBe(201);
    await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${created.body.id}`);
        expect(view.body.watchers[0]?.lastError?.code).toBe('IMAP_AUTH_FAILED');
      },
      { timeout: 15_000, interval: 50 },
    );
    const ready = await suite.app.request<Json>('GET', '/readyz', { auth: false });
    expect(ready.body.checks.inbound.status).toBe('down');
    expect(ready.body.checks.inbound.message).toMatch(/wrong password\/INBOX/);
    await suite.app.request('PATCH', `/api/mailboxes/${created.body.id}`, {
      body: { auth: { type: 'password', user: 'alice', password: 'secret' } },
    });
    await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${created.body.id}`);
        expect(view.body.watchers[0]?.state).toBe('idle');
      },
      { timeout: 15_000, interval: 50 },
    );
    await suite.app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });

  it('signs in with XOAUTH2: exchanges the refresh token at the token URL, Dovecot accepts the access token', async () => {
    const exchanges: Json[] = [];
    provider.respond((request) => {
      if (request.path === '/token') {
        const form = Object.fromEntries(new URLSearchParams(request.text()));
        exchanges.push(form);
        if (form.grant_type !== 'refresh_token' || form.refresh_token !== 'refresh-1') {
          return {
            status: 400,
            body: { error: 'invalid_grant', error_description: 'unknown refresh token' },
          };
        }
        return { status: 200, body: { access_token: 'access-1', token_type: 'Bearer', expires_in: 3600 } };
      }
      const form = Object.fromEntries(new URLSearchParams(request.text()));
      return {
        status: 200,
        body: form.token === 'access-1' ? { active: true, username: 'alice' } : { active: false },
      };
    });
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: base({
        name: 'oauth',
        port: dovecot.port,
        auth: {
          type: 'oauth2',
          user: 'alice',
          clientId: 'facteur-client',
          clientSecret: 'client-secret-1',
          refreshToken: 'refresh-1',
          tokenUrl: `${provider.url}/token`,
        },
      }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(JSON.stringify(created.body)).not.toMatch(/refresh-1|client-secret-1/);
    await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${created.body.id}`);
        expect(view.body.watchers[0]?.state, JSON.stringify(view.body.watchers)).toBe('idle');
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(exchanges[0]).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-1',
      client_id: 'facteur-client',
      client_secret: 'client-secret-1',
    });

    // A revoked refresh token: the watcher says why instead of looking healthy.
    await suite.app.request('PATCH', `/api/mailboxes/${created.body.id}`, {
      body: {
        auth: {
          type: 'oauth2',
          user: 'alice',
          clientId: 'facteur-client',
          refreshToken: 'revoked',
          tokenUrl: `${provider.url}/token`,
        },
      },
    });
    await vi.waitFor(
      async () => {
        const view = await suite.app.request<Json>('GET', `/api/mailboxes/${created.body.id}`);
        expect(view.body.watchers[0]?.lastError).toMatchObject({
          code: 'IMAP_OAUTH_FAILED',
          message: expect.stringMatching(/invalid_grant/),
        });
      },
      { timeout: 15_000, interval: 50 },
    );
    await suite.app.request('DELETE', `/api/mailboxes/${created.body.id}`);
  });
});
