import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { deleteRulesAndMailboxes, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import type { Json } from '../../test/support/webhooks.js';
import { type CheckReport, stageOf } from './model.js';

/**
 * `POST /api/doctor/imap` of a mailbox signing in with XOAUTH2 against a private Dovecot: a local
 * token server exchanges the refresh token (RFC 6749 §6) and Dovecot checks the access token at
 * the same server's introspection URL (RFC 7662), standing in for the provider. A healthy
 * mailbox logs in with XOAUTH2; a revoked refresh token (`invalid_grant`) fails the login stage
 * with the hint to set a new one; an access token Dovecot does not accept fails it with the
 * OAuth2 hint. No refresh token, client secret or access token appears in the report.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

const REFRESH = 'refresh-token-never-shown-4e1';
const REVOKED = 'revoked-refresh-never-shown-77';
const CLIENT_SECRET = 'client-secret-never-shown-c3';
const ACCESS = 'access-token-never-shown-9b';
const STALE_ACCESS = 'stale-access-never-shown-2d';

const stage = stageOf;

describe.skipIf(skip)('doctor imap with XOAUTH2', () => {
  let app: TestFacteur;
  let dovecot: DovecotInstance;
  let provider: HttpReceiver;
  /** Each refresh token's grant form, as the token server received it. */
  let exchanges: Json[] = [];
  /** Each access token Dovecot asked the introspection endpoint about. */
  let introspected: string[] = [];

  beforeAll(async () => {
    provider = await startHttpReceiver();
    dovecot = await startDovecot({ oauth2IntrospectionUrl: `${provider.url}/introspect` });
    app = await startTestFacteur();
  });
  afterEach(async () => {
    await deleteRulesAndMailboxes(app);
    exchanges = [];
    introspected = [];
  });
  afterAll(async () => {
    await app?.close();
    await dovecot?.close();
    await provider?.close();
  });

  /** The token server: REFRESH gives `access`, anything else is invalid_grant; ACCESS is active for alice. */
  function provide(access: string): void {
    provider.respond((request) => {
      const form = Object.fromEntries(new URLSearchParams(request.text()));
      if (request.path === '/token') {
        exchanges.push(form);
        if (form.grant_type !== 'refresh_token' || form.refresh_token !== REFRESH)
          return {
            status: 400,
            body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
          };
        return { status: 200, body: { access_token: access, token_type: 'Bearer', expires_in: 3600 } };
      }
      if (request.path === '/introspect') {
        introspected.push(String(form.token));
        return {
          status: 200,
          body: form.token === ACCESS ? { active: true, username: 'alice' } : { active: false },
        };
      }
      return { status: 404, body: { error: 'not_found' } };
    });
  }

  async function oauthMailbox(name: string, refreshToken: string): Promise<string> {
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, 'INBOX', {
        name,
        auth: {
          type: 'oauth2',
          user: 'alice',
          clientId: 'facteur-client',
          clientSecret: CLIENT_SECRET,
          refreshToken,
          tokenUrl: `${provider.url}/token`,
        },
      }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.id as string;
  }

  async function doctor(mailbox: string): Promise<{ report: CheckReport; raw: string }> {
    const answer = await app.request<CheckReport>('POST', '/api/doctor/imap', { body: { mailbox } });
    expect(answer.status).toBe(200);
    return { report: answer.body, raw: JSON.stringify(answer.body) };
  }

  it('logs in with XOAUTH2: the refresh token exchanged, Dovecot accepts the access token', async () => {
    provide(ACCESS);
    await oauthMailbox('oauth healthy', REFRESH);
    const { report, raw } = await doctor('oauth healthy');
    expect(report.ok, raw).toBe(true);
    expect(report.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['ssrf', 'ok'],
      ['tcp', 'ok'],
      ['greeting', 'ok'],
      ['capability', 'ok'],
      ['tls', 'skipped'],
      ['login', 'ok'],
      ['select', 'ok'],
    ]);
    expect(stage(report, 'login').detail).toEqual({ user: 'alice', method: 'XOAUTH2' });
    expect(stage(report, 'capability').detail.capabilities).toEqual(expect.arrayContaining(['AUTH=XOAUTH2']));
    expect(stage(report, 'select').detail.folders).toEqual([
      expect.objectContaining({ folder: 'INBOX', messages: 0 }),
    ]);
    // The exchange (the doctor's, and the watcher's) sends the mailbox's client; Dovecot checked the token.
    expect(exchanges).toContainEqual(
      expect.objectContaining({
        grant_type: 'refresh_token',
        refresh_token: REFRESH,
        client_id: 'facteur-client',
        client_secret: CLIENT_SECRET,
      }),
    );
    expect(introspected).toContain(ACCESS);
    for (const secret of [REFRESH, CLIENT_SECRET, ACCESS]) expect(raw).not.toContain(secret);
    expect(raw).not.toContain(Buffer.from(`user=alice\x01auth=Bearer ${ACCESS}\x01\x01`).toString('base64'));
  });

  it('fails the login stage on a revoked refresh token (invalid_grant), with the hint to set a new one', async () => {
    provide(ACCESS);
    await oauthMailbox('oauth revoked', REVOKED);
    const { report, raw } = await doctor('oauth revoked');
    expect(report.ok).toBe(false);
    expect(stage(report, 'tcp').outcome).toBe('ok');
    const login = stage(report, 'login');
    expect(login).toMatchObject({
      outcome: 'failed',
      errorCode: 'IMAP_OAUTH_FAILED',
      detail: { user: 'alice', method: 'XOAUTH2' },
    });
    expect(login.message).toMatch(/invalid_grant/);
    expect(login.hint).toMatch(/refresh token was revoked or expired: set a new one/);
    expect(stage(report, 'select').outcome).toBe('skipped');
    expect(exchanges).toContainEqual(expect.objectContaining({ refresh_token: REVOKED }));
    expect(introspected).toEqual([]); // no token reached Dovecot
    for (const secret of [REVOKED, CLIENT_SECRET]) expect(raw).not.toContain(secret);
  });

  it('fails the login stage when Dovecot refuses the access token, with the OAuth2 hint', async () => {
    provide(STALE_ACCESS); // exchanged fine, but the introspection says inactive
    await oauthMailbox('oauth refused', REFRESH);
    const { report, raw } = await doctor('oauth refused');
    expect(report.ok).toBe(false);
    const login = stage(report, 'login');
    expect(login).toMatchObject({
      outcome: 'failed',
      errorCode: 'IMAP_AUTH_FAILED',
      detail: { user: 'alice', method: 'XOAUTH2' },
    });
    expect(login.message).toMatch(/refused the login: NO/);
    expect(login.hint).toMatch(/refused the access token: check the user and the OAuth2 client and scopes/);
    expect(introspected).toContain(STALE_ACCESS);
    for (const secret of [REFRESH, CLIENT_SECRET, STALE_ACCESS]) expect(raw).not.toContain(secret);
  });
});
