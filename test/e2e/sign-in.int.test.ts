import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../../src/core/clock.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';

/**
 * Dashboard sign-in against a whole instance, on the run's database: the first admin's setup
 * link, password sign-in with the session cookie and CSRF, the login lock (audited), emailed
 * sign-in links read from the catcher (scanner-safe, single use, expiring, revocable), session
 * expiry and sign-out everywhere. Time moves with a shifted clock (real timers, so the outbox
 * sends), never by sleeping.
 */

class ShiftedClock implements Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
  setTimer = systemClock.setTimer;
}

/** What the sign-in routes answer, loosely: a session, or an error. */
interface AnswerBody {
  error: { code: string; message: string; details: unknown };
  user: { email: string; role: string };
  csrfToken?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: AnswerBody;
  text: string;
}

/** A browser-like client: keeps the session cookie, sends the CSRF token when told to. */
class Browser {
  cookie: string | undefined;
  csrf: string | undefined;
  constructor(private readonly base: string) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    options: { csrf?: boolean; form?: boolean } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.cookie) headers.cookie = this.cookie;
    if (options.csrf && this.csrf) headers['x-csrf-token'] = this.csrf;
    let payload: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.base;
      payload = '';
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: payload,
      redirect: 'manual',
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = (pair as string).split('=');
      if (name === 'facteur_session') this.cookie = value ? `facteur_session=${value}` : undefined;
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // an HTML page
    }
    const answer = { status: response.status, headers: response.headers, body: parsed as AnswerBody, text };
    if (answer.status === 200 && answer.body?.csrfToken) this.csrf = answer.body.csrfToken;
    return answer;
  }
}

const PASSWORD = 'correct horse battery';

describe('dashboard sign-in', () => {
  let t: TestFacteur;
  const clock = new ShiftedClock();

  beforeAll(async () => {
    t = await startTestFacteur({}, { clock });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function latestLink(to: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const list = await t.request<{ messages: Array<{ id: string; to: string[] }> }>(
        'GET',
        '/api/catcher/messages',
      );
      const found = list.body.messages.find((m) => JSON.stringify(m).includes(to));
      if (found) {
        const one = await t.request<{ raw: string }>('GET', `/api/catcher/messages/${found.id}`);
        const match = /\/auth\/magic\/([A-Za-z0-9_-]{43})/.exec(one.body.raw.replace(/=\r?\n/g, ''));
        if (match) {
          await t.request('DELETE', '/api/catcher/messages');
          return match[1] as string;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no sign-in link reached the catcher for ${to}`);
  }

  async function audited(action: string): Promise<Array<Record<string, unknown>>> {
    const answer = await t.request<{ items: Array<Record<string, unknown>> }>(
      'GET',
      `/api/audit?action=${encodeURIComponent(action)}&limit=100`,
    );
    expect(answer.status).toBe(200);
    return answer.body.items;
  }

  it('creates the first admin with the one-time setup link, then refuses the link', async () => {
    const browser = new Browser(t.url);
    const before = await browser.call('GET', '/auth/session');
    expect(before.status).toBe(401);
    expect(before.body.error.details).toEqual({ setupRequired: true });
    const setup = await t.facteur.signIn.setupLink();
    const token = new URL((setup as { url: string }).url.replace('/#/setup', '/setup')).searchParams.get(
      'token',
    ) as string;
    const weak = await browser.call('POST', '/auth/setup', {
      token,
      email: 'Admin@Example.org',
      name: 'Ada',
      password: 'short',
    });
    expect(weak.status).toBe(400);
    expect(JSON.stringify(weak.body.error.details)).toContain('password');
    const done = await browser.call('POST', '/auth/setup', {
      token,
      email: 'Admin@Example.org',
      name: 'Ada',
      password: PASSWORD,
    });
    expect(done.status).toBe(200);
    expect(done.body.user).toMatchObject({ email: 'admin@example.org', role: 'admin', hasPassword: true });
    expect(done.headers.getSetCookie().join()).toMatch(/facteur_session=.+HttpOnly.*SameSite=Lax/i);
    const session = await browser.call('GET', '/auth/session');
    expect(session.body.user.email).toBe('admin@example.org');
    const again = await new Browser(t.url).call('POST', '/auth/setup', {
      token,
      email: 'eve@example.org',
      name: 'Eve',
      password: PASSWORD,
    });
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('LINK_USED');
    expect(await t.facteur.signIn.setupLink()).toBeUndefined();
  });

  it('signs in with a password; a change with the cookie needs the CSRF token', async () => {
    const browser = new Browser(t.url);
    const wrong = await browser.call('POST', '/auth/login', {
      email: 'admin@example.org',
      password: 'not the password',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('AUTH_INVALID');
    const unknown = await browser.call('POST', '/auth/login', {
      email: 'nobody@example.org',
      password: PASSWORD,
    });
    expect(unknown.body.error).toEqual(wrong.body.error);
    const ok = await browser.call('POST', '/auth/login', { email: 'ADMIN@example.org', password: PASSWORD });
    expect(ok.status).toBe(200);
    expect((await browser.call('GET', '/api/users')).status).toBe(200);
    const user = { email: 'olive@example.org', name: 'Olive', role: 'viewer', password: PASSWORD };
    const forged = await browser.call('POST', '/api/users', user);
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_INVALID');
    expect((await t.request<{ items: unknown[] }>('GET', '/api/users')).body.items).toHaveLength(1);
    const made = await browser.call('POST', '/api/users', user, { csrf: true });
    expect(made.status).toBe(201);
    expect(made.body).not.toHaveProperty('password');
    const [entry] = await audited('user.created');
    expect(entry).toMatchObject({ actor: expect.objectContaining({ kind: 'user', role: 'admin' }) });
    expect(JSON.stringify(entry)).not.toContain(PASSWORD);

    // A viewer's session reads but does not change.
    const viewer = new Browser(t.url);
    await viewer.call('POST', '/auth/login', { email: 'olive@example.org', password: PASSWORD });
    expect((await viewer.call('GET', '/api/messages')).status).toBe(200);
    const refused = await viewer.call(
      'POST',
      '/api/messages',
      { to: ['a@example.org'], subject: 's', text: 't' },
      { csrf: true },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('AUTH_FORBIDDEN');
    expect((await viewer.call('GET', '/api/users')).status).toBe(403);
  });

  it('locks an account after ten wrong passwords in a minute, audits the lock, and lets it go later', async () => {
    clock.offset += 2 * 60_000; // the failures of the tests above are out of the window
    const browser = new Browser(t.url);
    for (let i = 0; i < 10; i++) {
      const wrong = await browser.call('POST', '/auth/login', {
        email: 'olive@example.org',
        password: `wrong ${i}`,
      });
      expect(wrong.status).toBe(401);
    }
    const locked = await browser.call('POST', '/auth/login', {
      email: 'olive@example.org',
      password: PASSWORD,
    });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('LOGIN_LOCKED');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
    const locks = await audited('login.locked');
    expect(locks.map((l) => (l.target as { type: string }).type).sort()).toEqual(['account', 'address']);
    clock.offset += 16 * 60_000;
    expect(
      (await browser.call('POST', '/auth/login', { email: 'olive@example.org', password: PASSWORD })).status,
    ).toBe(200);
  });

  it('signs in by emailed link: the GET page signs nobody in, the POST does once', async () => {
    const browser = new Browser(t.url);
    expect((await browser.call('POST', '/auth/magic-link', { email: 'nobody@example.org' })).status).toBe(
      202,
    );
    expect((await browser.call('POST', '/auth/magic-link', { email: 'Olive@example.org' })).status).toBe(202);
    const token = await latestLink('olive@example.org');
    // A mail scanner fetches the link: a page with a button, no session, the link still valid.
    const scanned = await new Browser(t.url).call('GET', `/auth/magic/${token}`);
    expect(scanned.status).toBe(200);
    expect(scanned.text).toContain('<form method="post">');
    expect(scanned.headers.get('set-cookie')).toBeNull();
    expect(scanned.headers.get('referrer-policy')).toBe('no-referrer');
    const signedIn = await browser.call('POST', `/auth/magic/${token}`, undefined, { form: true });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/');
    expect((await browser.call('GET', '/auth/session')).body.user.email).toBe('olive@example.org');
    const reused = await new Browser(t.url).call('POST', `/auth/magic/${token}`, undefined, { form: true });
    expect(reused.status).toBe(410);
    expect(reused.text).toContain('used already');
    expect((await new Browser(t.url).call('GET', `/auth/magic/${token}`)).text).toContain('used already');
  });

  it('says when a link expired or was revoked by a newer one, and signs nobody in', async () => {
    await new Browser(t.url).call('POST', '/auth/magic-link', { email: 'olive@example.org' });
    const first = await latestLink('olive@example.org');
    await new Browser(t.url).call('POST', '/auth/magic-link', { email: 'olive@example.org' });
    const second = await latestLink('olive@example.org');
    const revoked = new Browser(t.url);
    const answer = await revoked.call('POST', `/auth/magic/${first}`, undefined, { form: true });
    expect(answer.status).toBe(410);
    expect(answer.text).toContain('revoked');
    expect(revoked.cookie).toBeUndefined();
    clock.offset += 16 * 60_000;
    const expired = await new Browser(t.url).call('POST', `/auth/magic/${second}`, undefined, { form: true });
    expect(expired.status).toBe(410);
    expect(expired.text).toContain('expired');
    const foreign = await fetch(`${t.url}/auth/magic/${second}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: '',
    });
    expect(foreign.status).toBe(403);
  });

  it("mails at most five links per account within a link's lifetime", async () => {
    clock.offset += 16 * 60_000;
    for (let i = 0; i < 7; i++)
      expect(
        (await new Browser(t.url).call('POST', '/auth/magic-link', { email: 'olive@example.org' })).status,
      ).toBe(202);
    const throttled = await audited('session.link_throttled');
    expect(throttled).toHaveLength(2);
    await latestLink('olive@example.org');
  });

  it('ends idle sessions, and signs out everywhere', async () => {
    const one = new Browser(t.url);
    const two = new Browser(t.url);
    await one.call('POST', '/auth/login', { email: 'admin@example.org', password: PASSWORD });
    await two.call('POST', '/auth/login', { email: 'admin@example.org', password: PASSWORD });
    expect((await one.call('POST', '/auth/logout-everywhere')).status).toBe(403);
    expect((await one.call('POST', '/auth/logout-everywhere', undefined, { csrf: true })).status).toBe(204);
    const ended = await two.call('GET', '/api/users');
    expect(ended.status).toBe(401);
    expect(ended.body.error.message).toContain('session has ended');
    await two.call('POST', '/auth/login', { email: 'admin@example.org', password: PASSWORD });
    clock.offset += 13 * 60 * 60_000;
    expect((await two.call('GET', '/auth/session')).status).toBe(401);
    const signedIn = await two.call('POST', '/auth/login', {
      email: 'admin@example.org',
      password: PASSWORD,
    });
    expect(signedIn.status).toBe(200);
    expect((await two.call('POST', '/auth/logout', undefined, { csrf: true })).status).toBe(204);
    expect((await two.call('GET', '/auth/session')).status).toBe(401);
  });

  it('keeps one admin who can sign in', async () => {
    const users = await t.request<{ items: Array<{ id: string; email: string }> }>('GET', '/api/users');
    const admin = users.body.items.find((u) => u.email === 'admin@example.org') as { id: string };
    const demote = await t.request('PATCH', `/api/users/${admin.id}`, { body: { role: 'viewer' } });
    expect(demote.status).toBe(409);
    expect((demote.body as unknown as AnswerBody).error.code).toBe('LAST_ADMIN');
    expect((await t.request('DELETE', `/api/users/${admin.id}`)).status).toBe(409);
    expect((await t.request('PATCH', `/api/users/${admin.id}`, { body: { disabled: true } })).status).toBe(
      409,
    );
    // Anyone else may be disabled, and is signed out at once.
    const olive = users.body.items.find((u) => u.email === 'olive@example.org') as { id: string };
    const signedIn = new Browser(t.url);
    await signedIn.call('POST', '/auth/login', { email: 'olive@example.org', password: PASSWORD });
    expect((await t.request('PATCH', `/api/users/${olive.id}`, { body: { disabled: true } })).status).toBe(
      200,
    );
    expect((await signedIn.call('GET', '/auth/session')).status).toBe(401);
    const refused = await signedIn.call('POST', '/auth/login', {
      email: 'olive@example.org',
      password: PASSWORD,
    });
    expect(refused.status).toBe(401);
    const taken = await t.request('POST', '/api/users', {
      body: { email: 'ADMIN@example.org', name: 'Again', role: 'viewer' },
    });
    expect(taken.status).toBe(409);
  });

  it("shows a sign-in message's body in the catcher to admins only", async () => {
    clock.offset += 60 * 60_000; // earlier links and failures are out of their windows
    const made = await t.request('POST', '/api/users', {
      body: { email: 'wendy@example.org', name: 'Wendy', role: 'viewer', password: PASSWORD },
    });
    expect(made.status).toBe(201);
    const viewer = new Browser(t.url);
    expect(
      (await viewer.call('POST', '/auth/login', { email: 'wendy@example.org', password: PASSWORD })).status,
    ).toBe(200);
    await t.request('DELETE', '/api/catcher/messages');
    // Anyone may ask for a link to the admin's address; the viewer then reads the catcher.
    expect((await viewer.call('POST', '/auth/magic-link', { email: 'admin@example.org' })).status).toBe(202);
    let id = '';
    for (let i = 0; i < 200 && !id; i++) {
      const list = await viewer.call('GET', '/api/catcher/messages');
      const caught = (list.body as unknown as { messages: Array<{ id: string; to: string[] }> }).messages;
      id = caught.find((m) => m.to.includes('admin@example.org'))?.id ?? '';
      if (!id) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(id).not.toBe('');
    const seen = await viewer.call('GET', `/api/catcher/messages/${id}`);
    expect(seen.status).toBe(200);
    const raw = (seen.body as unknown as { raw: string }).raw;
    expect(raw).toContain('Subject: Your sign-in link to Facteur');
    expect(raw).toContain('only an admin can read its body');
    expect(raw.replace(/=\r?\n/g, '')).not.toContain('/auth/magic/');
    const framed = await viewer.call('GET', `/api/catcher/messages/${id}/html`);
    expect(framed.status).toBe(200);
    expect(framed.text).toContain('only an admin can read its body');
    expect(framed.text).not.toContain('/auth/magic/');
    // The admin (this key) reads the link, and it works.
    const token = await latestLink('admin@example.org');
    const signedIn = new Browser(t.url);
    expect((await signedIn.call('POST', `/auth/magic/${token}`, undefined, { form: true })).status).toBe(303);
    expect((await signedIn.call('GET', '/auth/session')).body.user.email).toBe('admin@example.org');
  });
});
