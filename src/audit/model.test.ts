import { describe, expect, it } from 'vitest';
import {
  CURSOR_PATTERN,
  DOCUMENT_LIMIT_BYTES,
  decodeCursor,
  documentJson,
  encodeCursor,
  isSecretName,
  normalisedEntry,
  REDACTED,
  redactSecrets,
} from './model.js';

describe('redactSecrets', () => {
  it('redacts every property named like a secret, at any depth, and copies the rest', () => {
    const input = {
      name: 'billing',
      password: 'hunter2',
      auth: { type: 'oauth', refreshToken: 'r-1', user: 'me' },
      secrets: { signingSecret: 'whsec_1' },
      headers: [{ name: 'x', Authorization: 'Bearer abc' }],
      apiKey: 'k',
      sendgridKey: 'sg',
      clientCredential: 'c',
      csrfToken: 't',
      keyId: 'key_1',
      keyPrefix: 'fk_ab',
      tokenExpiresAt: 123,
      api_key_id: 'key_2',
      monkey: 'banana',
      port: 993,
      enabled: true,
      nothing: null,
    };
    const copy = redactSecrets(input) as Record<string, unknown>;
    expect(copy).toEqual({
      name: 'billing',
      password: REDACTED,
      auth: { type: 'oauth', refreshToken: REDACTED, user: 'me' },
      secrets: REDACTED,
      headers: [{ name: 'x', Authorization: REDACTED }],
      apiKey: REDACTED,
      sendgridKey: REDACTED,
      clientCredential: REDACTED,
      csrfToken: REDACTED,
      keyId: 'key_1',
      keyPrefix: 'fk_ab',
      tokenExpiresAt: 123,
      api_key_id: 'key_2',
      monkey: REDACTED, // ends in "key": a false positive costs less than a leaked secret
      port: 993,
      enabled: true,
      nothing: null,
    });
    // A copy: the input is untouched.
    expect(input.password).toBe('hunter2');
    expect(input.auth.refreshToken).toBe('r-1');
  });

  it('matches names case-insensitively and keeps the Id/Prefix/At exceptions', () => {
    for (const name of [
      'PASSWORD',
      'Secret',
      'x-api-token',
      'APIKEY',
      'Key',
      'refresh',
      'proxyAuthorization',
    ])
      expect(isSecretName(name), name).toBe(true);
    for (const name of ['keyId', 'keyPrefix', 'refreshedAt', 'tokenIds', 'name', 'keys', 'host'])
      expect(isSecretName(name), name).toBe(false);
  });

  it('masks the password of a URL written in a string', () => {
    expect(redactSecrets({ url: 'https://user:pa55@example.com/hook', plain: 'a@b.example' })).toEqual({
      url: 'https://user:***@example.com/hook',
      plain: 'a@b.example',
    });
  });

  it('copies as JSON would: dates as text, no functions, cycles and depth bounded', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 40; i++) {
      const next: Record<string, unknown> = {};
      deep.next = next;
      deep = next;
    }
    const copy = redactSecrets({
      when: new Date(Date.UTC(2026, 0, 5)),
      fn: () => 1,
      big: 10n,
      bytes: Buffer.from('abc'),
      cyclic,
      root,
    }) as Record<string, unknown>;
    expect(copy.when).toBe('2026-01-05T00:00:00.000Z');
    expect('fn' in copy).toBe(false);
    expect(copy.big).toBe('10');
    expect(copy.cyclic).toEqual({ name: 'loop', self: '[circular]' });
    expect(JSON.stringify(copy.root)).toContain('[too deep]');
    // Shared (not cyclic) references are copied twice, not called circular.
    const shared = { a: 1 };
    expect(redactSecrets({ x: shared, y: shared })).toEqual({ x: { a: 1 }, y: { a: 1 } });
  });
});

describe('documentJson', () => {
  it('stores null for no document and redacted JSON otherwise', () => {
    expect(documentJson(undefined)).toBeNull();
    expect(documentJson(null)).toBeNull();
    expect(JSON.parse(documentJson({ token: 'x', n: 1 }) as string)).toEqual({ token: REDACTED, n: 1 });
  });

  it('replaces a document over 16 KB by a note saying it was cut', () => {
    const fits = { text: 'a'.repeat(DOCUMENT_LIMIT_BYTES - 20) };
    expect(JSON.parse(documentJson(fits) as string)).toEqual(fits);
    const tooBig = { recipients: Array.from({ length: 2000 }, (_, i) => `person${i}@example.com`) };
    const stored = documentJson(tooBig) as string;
    expect(stored.length).toBeLessThan(300);
    const note = JSON.parse(stored) as { cut: boolean; bytes: number; note: string };
    expect(note.cut).toBe(true);
    expect(note.bytes).toBeGreaterThan(DOCUMENT_LIMIT_BYTES);
    expect(note.note).toMatch(/over the audit log's bound of 16384/);
  });
});

describe('entries and cursors', () => {
  it('fills what an input leaves out', () => {
    const entry = normalisedEntry(
      { actor: { kind: 'system' }, action: 'audit.test', target: { type: 'thing' } },
      'id-1',
      1000,
    );
    expect(entry).toEqual({
      id: 'id-1',
      at: 1000,
      actor: { kind: 'system', id: null, name: null, role: null },
      action: 'audit.test',
      target: { type: 'thing', id: null },
      address: null,
      requestId: null,
      beforeJson: null,
      afterJson: null,
      outcome: 'ok',
    });
  });

  it('round-trips a cursor and recognises its form', () => {
    const cursor = { at: 1767603600000, id: '019b8e2c-0000-7000-8000-000000000001' };
    const text = encodeCursor(cursor);
    expect(CURSOR_PATTERN.test(text)).toBe(true);
    expect(decodeCursor(text)).toEqual(cursor);
    for (const bad of ['', 'abc', '12', '.x', '1.', '1.a b', `${'9'.repeat(16)}.x`])
      expect(CURSOR_PATTERN.test(bad), bad).toBe(false);
  });
});
