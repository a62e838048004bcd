import { describe, expect, it } from 'vitest';
import { parseBootConfig } from './index.js';

function trustOf(raw: string | undefined) {
  const result = parseBootConfig(raw === undefined ? {} : { FACTEUR_TRUST_PROXY: raw }, { cwd: '/srv' });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config.http.trustProxy;
}

describe('FACTEUR_TRUST_PROXY', () => {
  it('believes no proxy by default, and reads false, a hop count, or addresses and ranges', () => {
    expect(trustOf(undefined)).toBe(false);
    expect(trustOf('false')).toBe(false);
    expect(trustOf('2')).toBe(2);
    expect(trustOf('127.0.0.1, 10.0.0.0/8,loopback')).toEqual(['127.0.0.1', '10.0.0.0/8', 'loopback']);
    expect(trustOf('::1,fd00::/8,uniquelocal')).toEqual(['::1', 'fd00::/8', 'uniquelocal']);
  });

  it('refuses anything else, naming the variable and the entry', () => {
    for (const raw of [
      'true',
      '0',
      '11',
      'proxy.example.com',
      '10.0.0.0/33',
      '::1/129',
      '10.0.0.1/8/2',
      '1.2.3',
    ]) {
      const result = parseBootConfig({ FACTEUR_TRUST_PROXY: raw }, { cwd: '/srv' });
      expect(result.ok, raw).toBe(false);
      if (!result.ok)
        expect(result.problems, raw).toEqual([
          expect.objectContaining({
            variable: 'FACTEUR_TRUST_PROXY',
            message: expect.stringMatching(/expected/),
          }),
        ]);
    }
  });
});
