import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeKey } from '../../src/access/index.js';
import { systemClock } from '../../src/core/clock.js';
import { ACCESS_EXCEPTIONS, type Role } from '../../src/core/http/access-policy.js';
import { silentLogger } from '../../src/core/observability/index.js';
import { databaseSkipReason } from '../support/database.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';

/**
 * The route x role table: every route a real Facteur registers, with who may call it. The test
 * fails when a route has no entry (so a new route cannot be added without deciding its access)
 * and when an entry names no route. For each route it sends a request with no credentials, a
 * revoked key, and a viewer, an operator and an admin key: a refused case must answer 401 or 403
 * with its code, an allowed one anything but 401/403 (the bodies are not meant to be valid).
 *
 * An entry is the least role the route takes (what `core/http/access-policy.ts` must enforce,
 * written here again on purpose), `public` for a route outside `/api` that needs no key, or
 * `{ role, own }` for a route that also takes its own credential (`config.routeAuth`), which an
 * API key sent as `Bearer` bypasses, so the roles still apply to keys. A `HEAD` route that
 * Fastify adds beside a `GET` takes the `GET`'s entry.
 */

const skip = await databaseSkipReason();

/**
 * `public`: outside `/api`, no credential looked at. `session`: outside `/api`, the dashboard's
 * own session routes (the session and its CSRF token, not a key; no role needed).
 */
type Entry = Role | 'public' | 'session' | { role: Role; own: string };

const V: Role = 'viewer';
const O: Role = 'operator';
const A: Role = 'admin';

const TABLE: Record<string, Entry> = {
  // Operational and public routes: no key (/healthz ... are for the operator's network only).
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'GET /openapi.json': 'public',
  'GET /u/:token': 'public', // the signed unsubscribe link
  'POST /u/:token': 'public',
  'GET /': 'public', // the dashboard's index.html (its screens are hash routes)
  'GET /setup': 'public', // the first admin's setup link lands on the dashboard
  'GET /assets/*': 'public', // the dashboard's bundle
  // Dashboard sign-in (access/auth-routes.ts): no key; each checks its own session or link.
  'GET /auth/session': 'session',
  'POST /auth/login': 'public',
  'POST /auth/magic-link': 'public',
  'POST /auth/setup': 'public',
  'POST /auth/logout': 'session',
  'POST /auth/logout-everywhere': 'session',
  'POST /auth/password': 'session',
  'GET /auth/magic/:token': 'public',
  'POST /auth/magic/:token': 'public',

  'POST /api/messages': O,
  'GET /api/messages': V,
  'GET /api/messages/:id': V,

  // Mailboxes hold IMAP credentials: changing one is infrastructure (admin); pausing is operations.
  'POST /api/mailboxes': A,
  'GET /api/mailboxes': V,
  'GET /api/mailboxes/:id': V,
  'GET /api/mailboxes/events': V,
  'PATCH /api/mailboxes/:id': A,
  'DELETE /api/mailboxes/:id': A,
  'POST /api/mailboxes/:id/pause': O,
  'POST /api/mailboxes/:id/resume': O,

  'GET /api/jobs/:id': V,
  'POST /api/jobs/:id/replay': O,

  'POST /api/endpoints': O,
  'GET /api/endpoints': V,
  'GET /api/endpoints/:id': V,
  'PATCH /api/endpoints/:id': O,
  'DELETE /api/endpoints/:id': O,
  'POST /api/endpoints/:id/pause': O,
  'POST /api/endpoints/:id/resume': O,
  'POST /api/endpoints/:id/replay': O,
  'POST /api/endpoints/:id/rotate-secret': O,
  'POST /api/endpoints/:id/test': O,
  'POST /api/events': O,
  'GET /api/deliveries': V,
  'GET /api/deliveries/:id': V,
  'GET /api/deliveries/:id/events': V,
  'POST /api/deliveries/:id/replay': O,

  // Diagnostics log in with the server's credentials (admin), but for a webhook, which sends
  // what POST /api/endpoints/:id/test sends.
  'POST /api/doctor/smtp': A,
  'POST /api/doctor/transport': A,
  'POST /api/doctor/imap': A,
  'POST /api/doctor/webhook': O,

  'POST /api/rules': O,
  'GET /api/rules': V,
  'PUT /api/rules/order': O,
  'GET /api/rules/settings': V,
  'PUT /api/rules/settings': O,
  'POST /api/rules/backtest': O,
  'GET /api/rules/:id': V,
  'PATCH /api/rules/:id': O,
  'DELETE /api/rules/:id': O,

  'POST /api/reports': O,
  'GET /api/reports': V,
  'GET /api/reports/:id': V,
  'PATCH /api/reports/:id': O,
  'DELETE /api/reports/:id': O,
  'POST /api/reports/:id/pause': O,
  'POST /api/reports/:id/preview': O,
  'GET /api/reports/:id/preview.html': O,
  'POST /api/reports/:id/resume': O,
  'POST /api/reports/:id/rotate-token': O,
  'POST /api/reports/:id/runs': { role: O, own: "the report's X-Report-Token" },
  'GET /api/reports/:id/runs': V,
  'GET /api/report-runs/:id': V,

  'GET /api/inbound': V,
  'GET /api/inbound/:id': V,
  'POST /api/ingress/gmail': O,
  'POST /api/ingress/raw': O,

  'POST /api/lists': O,
  'GET /api/lists': V,
  'GET /api/lists/:id': V,
  'PATCH /api/lists/:id': O,
  'DELETE /api/lists/:id': O,
  'GET /api/lists/:id/contacts': V,
  'POST /api/lists/:id/contacts': O,
  'DELETE /api/lists/:id/contacts/:address': O,
  'POST /api/lists/:id/import': O,
  'GET /api/suppressions': V,
  'POST /api/suppressions': O,
  'DELETE /api/suppressions/:address': O,

  'POST /api/campaigns': O,
  'GET /api/campaigns': V,
  'GET /api/campaigns/:id': V,
  'PATCH /api/campaigns/:id': O,
  'GET /api/campaigns/:id/content': V,
  'GET /api/campaigns/:id/preview.html': V,
  'POST /api/campaigns/:id/start': O,
  'POST /api/campaigns/:id/pause': O,
  'POST /api/campaigns/:id/preview': O,
  'POST /api/campaigns/:id/resume': O,
  'POST /api/campaigns/:id/retry-failed': O,
  'POST /api/campaigns/:id/cancel': O,
  'POST /api/campaigns/:id/test': O,
  'GET /api/campaigns/:id/recipients': V,
  'GET /api/campaigns/:id/recipients.csv': V,
  'GET /api/campaigns/:id/events': V,

  'GET /api/catcher/messages': V,
  'DELETE /api/catcher/messages': O,
  'GET /api/catcher/messages/:id': V,
  'GET /api/catcher/messages/:id/html': V,

  // People and credentials: admin only.
  'GET /api/users': A,
  'GET /api/users/:id': A,
  'POST /api/users': A,
  'PATCH /api/users/:id': A,
  'DELETE /api/users/:id': A,
  'GET /api/keys': A,
  'POST /api/keys': A,
  'DELETE /api/keys/:id': A,

  // The audit log names every caller, their address and what they changed: admin only.
  'GET /api/audit': A,

  // Counts and latencies of the work (no content): any role that reads.
  'GET /api/stats/activity': V,

  'POST /api/feedback/postmark': { role: O, own: 'Basic credentials of FACTEUR_FEEDBACK_POSTMARK_AUTH' },
  'POST /api/feedback/sendgrid': { role: O, own: "SendGrid's signature" },
  'POST /api/feedback/ses': { role: O, own: "the SNS message's signature" },
  'POST /api/feedback/mailgun': { role: O, own: "Mailgun's signature in the body" },
};

const ROLE_ORDER: Role[] = ['viewer', 'operator', 'admin'];
const allows = (held: Role, needed: Role) => ROLE_ORDER.indexOf(held) >= ROLE_ORDER.indexOf(needed);
const roleOf = (entry: Entry): Role | undefined =>
  entry === 'public' || entry === 'session' ? undefined : typeof entry === 'string' ? entry : entry.role;

/** A value for each path parameter: well formed, naming nothing that exists. */
const PARAMS: Record<string, string> = {
  id: '01900000-0000-7000-8000-000000000000',
  address: encodeURIComponent('nobody@example.com'),
  token: 'not-a-token',
};

type Route = { method: string; url: string; ownCredential: boolean };
/** Who calls: nobody, an API key (revoked or of a role), or a dashboard session (of a role, without its CSRF token, or ended). */
type Session = 'session:viewer' | 'session:operator' | 'session:admin' | 'session:no-csrf' | 'session:ended';
type Case = 'none' | 'revoked' | Role | Session;
const SESSION_CASES: Session[] = [
  'session:viewer',
  'session:operator',
  'session:admin',
  'session:no-csrf',
  'session:ended',
];
const READS = ['GET', 'HEAD'];

describe.skipIf(skip)(`the route x role table${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let t: TestFacteur;
  const logLines: string[] = [];
  const keys = {} as Record<'revoked' | Role, string>;
  const sessions = {} as Record<Session, { cookie: string; csrf: string }>;
  let routes: Route[];

  /** Signs a user in with a password, as the dashboard does. */
  async function signIn(email: string): Promise<{ cookie: string; csrf: string }> {
    const answer = await fetch(`${t.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'a long enough password' }),
    });
    const body = (await answer.json()) as { csrfToken: string };
    const cookie = (answer.headers.getSetCookie()[0] as string).split(';')[0] as string;
    return { cookie, csrf: body.csrfToken };
  }

  beforeAll(async () => {
    t = await startTestFacteur({}, { logLines });
    const deps = { store: t.facteur.store, clock: systemClock, logger: silentLogger() };
    for (const role of ROLE_ORDER) keys[role] = (await createApiKey(deps, role, role)).key;
    const revoked = await createApiKey(deps, 'revoked', 'admin');
    await revokeKey(deps, revoked.id);
    keys.revoked = revoked.key;
    for (const role of ROLE_ORDER) {
      const email = `${role}@example.org`;
      await t.facteur.accounts.createUser(
        { email, name: role, role, password: 'a long enough password' },
        { kind: 'system' },
      );
      sessions[`session:${role}`] = await signIn(email);
    }
    sessions['session:no-csrf'] = { ...(await signIn('admin@example.org')), csrf: '' };
    // Ended: signed out (the same answer as expired or disabled: the session row is gone).
    const ended = await signIn('admin@example.org');
    await fetch(`${t.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie: ended.cookie, 'x-csrf-token': ended.csrf },
    });
    sessions['session:ended'] = ended;
    routes = t.facteur.http.registeredRoutes.map((r) => ({ ...r }));
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The route's entry: its own, or for a HEAD beside a GET, the GET's. */
  const entryFor = (route: Route): Entry | undefined =>
    TABLE[`${route.method} ${route.url}`] ??
    (route.method === 'HEAD' ? TABLE[`GET ${route.url}`] : undefined);

  it('has an entry for every registered route, and a route for every entry', () => {
    expect(routes.length).toBeGreaterThan(50);
    const missing = routes.filter((r) => entryFor(r) === undefined).map((r) => `${r.method} ${r.url}`);
    const registered = new Set(routes.map((r) => `${r.method} ${r.url}`));
    const stale = Object.keys(TABLE).filter((key) => !registered.has(key));
    expect(
      missing,
      `routes without an entry in TABLE (decide who may call them, and add them to core/http/access-policy.ts if they need more than the method rule):\n${missing.join('\n')}`,
    ).toEqual([]);
    expect(stale, `entries naming no registered route:\n${stale.join('\n')}`).toEqual([]);
  });

  it('lists as public exactly the routes outside /api, and as own credential exactly those that declare one', () => {
    const problems: string[] = [];
    for (const route of routes) {
      const entry = entryFor(route);
      if (!entry) continue;
      const name = `${route.method} ${route.url}`;
      const outside = entry === 'public' || entry === 'session';
      if (outside !== !route.url.startsWith('/api/'))
        problems.push(
          `${name}: public is ${outside}, but the route is ${route.url.startsWith('/api/') ? 'under' : 'outside'} /api`,
        );
      if ((typeof entry === 'object') !== route.ownCredential)
        problems.push(
          `${name}: the table says own credential ${typeof entry === 'object'}, the route ${route.ownCredential}`,
        );
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it("names only registered routes in the policy's exceptions", () => {
    const registered = new Set(routes.map((r) => `${r.method} ${r.url}`));
    expect(Object.keys(ACCESS_EXCEPTIONS).filter((key) => !registered.has(key))).toEqual([]);
  });

  /** What a case must get on a route: a refusal (status and code), or anything but 401/403. */
  function expected(
    entry: Entry,
    kase: Case,
    method: string,
  ): { status: number; code: string } | 'allowed' | 'refused' {
    if (entry === 'session') {
      if (kase === 'session:ended') return { status: 401, code: 'AUTH_INVALID' };
      // Sent without the CSRF token (see credentials): read, but never change.
      if (kase.startsWith('session:'))
        return READS.includes(method) ? 'allowed' : { status: 403, code: 'CSRF_INVALID' };
      return { status: 401, code: 'AUTH_REQUIRED' };
    }
    const role = roleOf(entry);
    if (!role) return 'allowed'; // public: credentials are not even looked at
    if (kase === 'session:ended') return { status: 401, code: 'AUTH_INVALID' };
    if (kase === 'session:no-csrf')
      return READS.includes(method) ? 'allowed' : { status: 403, code: 'CSRF_INVALID' };
    if (kase.startsWith('session:')) {
      const held = kase.slice('session:'.length) as Role;
      return allows(held, role) ? 'allowed' : { status: 403, code: 'AUTH_FORBIDDEN' };
    }
    if (kase === 'none')
      // A route with its own credential refuses a request with none its own way (401, or 404
      // for a provider that is not configured); the others ask for a key.
      return typeof entry === 'object' ? 'refused' : { status: 401, code: 'AUTH_REQUIRED' };
    if (kase === 'revoked') return { status: 401, code: 'AUTH_INVALID' };
    return allows(kase as Role, role) ? 'allowed' : { status: 403, code: 'AUTH_FORBIDDEN' };
  }

  /**
   * The headers of a case. A public route gets no session cookie (it looks at none), and a
   * session route gets it without the CSRF token: signing out there would end the session the
   * next routes are checked with, and a change must be refused without the token anyway.
   */
  function credentials(kase: Case, entry: Entry): Record<string, string> {
    if (kase === 'none') return {};
    if (!kase.startsWith('session:')) return { authorization: `Bearer ${keys[kase as 'revoked' | Role]}` };
    if (entry === 'public') return {};
    const session = sessions[kase as Session];
    if (entry === 'session') return { cookie: session.cookie };
    return { cookie: session.cookie, ...(session.csrf ? { 'x-csrf-token': session.csrf } : {}) };
  }

  type Refusal = { error?: { code: string; message: string } };
  /** `t.request`, except that a live stream (`GET` or `HEAD .../events`) is closed once its status is known. */
  async function ask(
    method: string,
    path: string,
    options: { auth: false; headers: Record<string, string>; body?: unknown },
  ): Promise<{ status: number; body?: Refusal | undefined }> {
    if (!['GET', 'HEAD'].includes(method) || !path.endsWith('/events'))
      return t.request(method, path, options);
    const controller = new AbortController();
    const response = await fetch(`${t.url}${path}`, {
      method,
      headers: options.headers,
      signal: controller.signal,
    });
    if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
      controller.abort();
      return { status: response.status };
    }
    return { status: response.status, body: (await response.json().catch(() => undefined)) as Refusal };
  }

  async function check(kase: Case): Promise<string[]> {
    const problems: string[] = [];
    for (const route of routes) {
      const entry = entryFor(route);
      if (!entry) continue; // reported by the first test
      const path = route.url.replace(/:(\w+)/g, (_, name: string) => PARAMS[name] ?? 'x');
      const withBody = !['GET', 'HEAD', 'DELETE'].includes(route.method);
      const answer = await ask(route.method, path, {
        auth: false,
        headers: credentials(kase, entry),
        ...(withBody ? { body: {} } : {}),
      });
      const want = expected(entry, kase, route.method);
      // A route's own credential is tried first when there is no Authorization header (a
      // provider's webhook answers 404 while unconfigured, 401 for a bad signature).
      if (typeof entry === 'object' && kase.startsWith('session:') && [401, 404].includes(answer.status))
        continue;
      const name = `${kase}: ${route.method} ${route.url}`;
      if (want === 'allowed') {
        if (answer.status === 401 || answer.status === 403)
          problems.push(
            `${name}: expected to be let through, got ${answer.status} ${answer.body?.error?.code}`,
          );
      } else if (want === 'refused') {
        if (![401, 404].includes(answer.status))
          problems.push(`${name}: expected its own credential's refusal (401 or 404), got ${answer.status}`);
      } else if (answer.status !== want.status) {
        problems.push(`${name}: expected ${want.status} ${want.code}, got ${answer.status}`);
      } else if (route.method !== 'HEAD' && answer.body?.error?.code !== want.code) {
        problems.push(`${name}: expected ${want.code}, got ${answer.body?.error?.code}`);
      }
    }
    return problems;
  }

  for (const kase of ['none', 'revoked', 'viewer', 'operator', 'admin'] as const) {
    it(`answers as the table says with ${kase === 'none' ? 'no credentials' : `${kase === 'viewer' || kase === 'revoked' ? 'a' : 'an'} ${kase} key`}`, async () => {
      const problems = await check(kase);
      expect(problems, problems.join('\n')).toEqual([]);
    });
  }
  for (const kase of SESSION_CASES) {
    it(`answers as the table says with a dashboard session (${kase.slice('session:'.length)})`, async () => {
      const problems = await check(kase);
      expect(problems, problems.join('\n')).toEqual([]);
    });
  }

  it('says which role is needed, changes nothing when it refuses, and logs the role but never the key', async () => {
    const as = (role: Role) => ({ auth: false, headers: { authorization: `Bearer ${keys[role]}` } });
    const endpoint = { name: 'refused', url: 'https://example.com/hook' };
    const refused = await t.request<{ error: { code: string; message: string; details: unknown } }>(
      'POST',
      '/api/endpoints',
      { ...as('viewer'), body: endpoint },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('AUTH_FORBIDDEN');
    expect(refused.body.error.message).toContain('operator');
    expect(refused.body.error.message).toContain('viewer');
    expect(refused.body.error.details).toEqual({ required: 'operator', role: 'viewer' });
    const mailbox = {
      name: 'refused',
      host: 'imap.example.com',
      port: 993,
      tls: 'implicit',
      auth: { type: 'password', user: 'u', password: 'p' },
    };
    const byOperator = await t.request('POST', '/api/mailboxes', { ...as('operator'), body: mailbox });
    expect(byOperator.status).toBe(403);
    const message = { to: ['someone@example.com'], subject: 'refused', text: 'no' };
    expect((await t.request('POST', '/api/messages', { ...as('viewer'), body: message })).status).toBe(403);

    const endpoints = await t.request<{ endpoints: unknown[] }>('GET', '/api/endpoints', as('viewer'));
    expect(endpoints.body.endpoints).toEqual([]);
    const mailboxes = await t.request<{ mailboxes: unknown[] }>('GET', '/api/mailboxes', as('viewer'));
    expect(mailboxes.body.mailboxes).toEqual([]);
    const messages = await t.request<{ messages: unknown[] }>('GET', '/api/messages', as('viewer'));
    expect(messages.body.messages).toEqual([]);

    const logged = logLines.filter((line) => line.includes('AUTH_FORBIDDEN'));
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.parse(logged[0] as string)).toMatchObject({ event: 'http.error', role: 'viewer' });
    for (const key of Object.values(keys)) expect(logLines.join('\n')).not.toContain(key);
  });

  it('declares 403 in the OpenAPI document exactly on the routes that need more than viewer', async () => {
    const doc = await t.request<{
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    }>('GET', '/openapi.json');
    const problems: string[] = [];
    for (const [path, operations] of Object.entries(doc.body.paths)) {
      if (!path.startsWith('/api/')) continue;
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      for (const [method, operation] of Object.entries(operations)) {
        const entry = TABLE[`${method.toUpperCase()} ${url}`];
        if (!entry) continue;
        const declares = '403' in operation.responses;
        if (declares !== (roleOf(entry) !== 'viewer'))
          problems.push(`${method.toUpperCase()} ${url}: 403 declared ${declares}, needs ${roleOf(entry)}`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
