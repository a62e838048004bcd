import { describe, expect, it } from 'vitest';
import { isAppError } from '../errors.js';
import { ACCESS_EXCEPTIONS, authorize, requiredRole, roleAllows } from './access-policy.js';
import type { Principal } from './auth.js';

/** The policy's rule and exceptions; the route x role table is test/e2e/authorization.int.test.ts. */

const key = (role?: Principal['role']): Principal => ({
  kind: 'api_key',
  id: 'k',
  name: 'k',
  ...(role ? { role } : {}),
});

function refusal(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('requiredRole', () => {
  it('derives the role from the method: reads need viewer, the rest operator', () => {
    expect(requiredRole('GET', '/api/messages')).toBe('viewer');
    expect(requiredRole('HEAD', '/api/messages')).toBe('viewer');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
      expect(requiredRole(method, '/api/x')).toBe('operator');
  });

  it('takes the exceptions from the one table, and only for their method', () => {
    expect(requiredRole('POST', '/api/mailboxes')).toBe('admin');
    expect(requiredRole('GET', '/api/mailboxes')).toBe('viewer');
    expect(requiredRole('POST', '/api/mailboxes/:id/pause')).toBe('operator');
    for (const [route, { role, why }] of Object.entries(ACCESS_EXCEPTIONS)) {
      const [method = '', url = ''] = route.split(' ');
      expect(requiredRole(method, url)).toBe(role);
      expect(why.length).toBeGreaterThan(10);
    }
  });
});

describe('authorize', () => {
  it('lets a role at or above the route through', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(() => authorize(key('viewer'), 'GET', '/api/messages')).not.toThrow();
    expect(() => authorize(key('admin'), 'POST', '/api/doctor/imap')).not.toThrow();
  });

  it('refuses a lower role with AUTH_FORBIDDEN naming both roles', () => {
    const error = refusal(() => authorize(key('operator'), 'POST', '/api/mailboxes'));
    expect(isAppError(error) && error.code).toBe('AUTH_FORBIDDEN');
    expect((error as Error).message).toBe(
      'POST /api/mailboxes needs a key with the admin role or above; this key has the operator role',
    );
    expect(isAppError(error) && error.details).toEqual({ required: 'admin', role: 'operator' });
  });

  it('refuses a key without a role, and lets a route token through (it opens its one route)', () => {
    expect(isAppError(refusal(() => authorize(key(), 'GET', '/api/messages')))).toBe(true);
    const token: Principal = { kind: 'route_token', id: 'report:1', name: 'trigger token' };
    expect(() => authorize(token, 'POST', '/api/reports/:id/runs')).not.toThrow();
  });
});
