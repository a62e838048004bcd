import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateSecretKey, maskSecret, randomToken, seal, sha256Hex, unseal } from './index.js';

describe('secret key', () => {
  it('generates a 0600 key file once and reads it back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-key-'));
    const first = loadOrCreateSecretKey(dir, undefined);
    expect(first.source).toBe('generated');
    expect(first.key).toHaveLength(32);
    expect(statSync(join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    const second = loadOrCreateSecretKey(dir, undefined);
    expect(second).toEqual({ key: first.key, source: 'file' });
    expect(readFileSync(join(dir, 'secret.key'), 'utf8')).not.toContain(first.key.toString('hex'));
  });

  it('prefers the key from the environment', () => {
    const key = Buffer.alloc(32, 7);
    expect(loadOrCreateSecretKey('/nonexistent', key)).toEqual({ key, source: 'env' });
  });
});

describe('seal', () => {
  const key = Buffer.alloc(32, 1);

  it('round-trips and never shows the plaintext', () => {
    const sealed = seal(key, 'hunter2');
    expect(sealed).not.toContain('hunter2');
    expect(seal(key, 'hunter2')).not.toBe(sealed); // random IV
    expect(unseal(key, sealed)).toBe('hunter2');
  });

  it('refuses a wrong key or a tampered value', () => {
    const sealed = seal(key, 'hunter2');
    expect(() => unseal(Buffer.alloc(32, 2), sealed)).toThrow(/cannot be decrypted/);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}A`;
    expect(() => unseal(key, tampered)).toThrow();
    expect(() => unseal(key, 'plain')).toThrow(/sealed format/);
  });
});

describe('tokens', () => {
  it('are random, hashed stably and masked', () => {
    const a = randomToken();
    expect(a).not.toBe(randomToken());
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(maskSecret('fct_0123456789')).toBe('fct_0123…');
  });
});
