import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';

/**
 * Behind a reverse proxy (FACTEUR_TRUST_PROXY): the client's address comes from
 * X-Forwarded-For, so the login lock per address locks that client, not everyone behind the
 * proxy, and the audit log names the client; X-Forwarded-Proto makes the session cookie
 * Secure. Without the variable the same headers are ignored, so nobody escapes the lock by
 * writing them.
 */

const ADMIN = {
  email: 'admin@example.org',
  name: 'Ada',
  role: 'admin' as const,
  password: 'correct horse battery',
};

async function login(t: TestFacteur, password: string, headers: Record<string, string>) {
  return fetch(`${t.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email: ADMIN.email, password }),
  });
}

async function failureAddresses(t: TestFacteur): Promise<unknown[]> {
  const audit = await t.request<{ items: Array<{ address: unknown }> }>(
    'GET',
    '/api/audit?action=session.login_failed&limit=100',
  );
  expect(audit.status).toBe(200);
  return [...new Set(audit.body.items.map((item) => item.address))];
}

describe('FACTEUR_TRUST_PROXY', () => {
  let behind: TestFacteur;
  let direct: TestFacteur;

  beforeAll(async () => {
    [behind, direct] = await Promise.all([
      startTestFacteur({ FACTEUR_TRUST_PROXY: '127.0.0.1' }),
      startTestFacteur({}),
    ]);
    for (const t of [behind, direct]) await t.facteur.accounts.createUser(ADMIN, { kind: 'system' });
  });
  afterAll(async () => {
    await Promise.all([behind?.close(), direct?.close()]);
  });

  it("locks the forwarded client's address only, and audits that address", async () => {
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 10; i++) expect((await login(behind, `wrong ${i}`, attacker)).status).toBe(401);
    const locked = await login(behind, ADMIN.password, attacker);
    expect(locked.status).toBe(429);
    expect(((await locked.json()) as { error: { code: string } }).error.code).toBe('LOGIN_LOCKED');
    expect(await failureAddresses(behind)).toEqual(['203.0.113.7']);
    // The account is locked too (ten failures for it), but another client behind the same proxy
    // is not locked by address: a new account signs in from there.
    await behind.facteur.accounts.createUser(
      { email: 'bob@example.org', name: 'Bob', role: 'viewer', password: ADMIN.password },
      { kind: 'system' },
    );
    const other = await fetch(`${behind.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.9' },
      body: JSON.stringify({ email: 'bob@example.org', password: ADMIN.password }),
    });
    expect(other.status).toBe(200);
  });

  it('makes the session cookie Secure when the proxy says the client used https', async () => {
    const bob = (headers: Record<string, string>) =>
      fetch(`${behind.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.10', ...headers },
        body: JSON.stringify({ email: 'bob@example.org', password: ADMIN.password }),
      });
    const overTls = await bob({ 'x-forwarded-proto': 'https' });
    expect(overTls.status).toBe(200);
    expect(overTls.headers.get('set-cookie')).toMatch(/facteur_session=[^;]+;.*Secure/i);
    const plain = await bob({});
    expect(plain.status).toBe(200);
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/i);
  });

  it('ignores the headers without the variable: the proxy (here, the test) is the client', async () => {
    const spoofed = { 'x-forwarded-for': '203.0.113.99', 'x-forwarded-proto': 'https' };
    expect((await login(direct, 'wrong', spoofed)).status).toBe(401);
    expect(await failureAddresses(direct)).toEqual(['127.0.0.1']);
    const signedIn = await login(direct, ADMIN.password, spoofed);
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('set-cookie')).not.toMatch(/Secure/i);
  });
});
