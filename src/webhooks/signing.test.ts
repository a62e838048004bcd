import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import { generateSecret, SECRET_PREFIX, secretProblem, signatureFor, signingHeaders } from './signing.js';

/**
 * A receiver written from the specification alone (https://www.standardwebhooks.com/,
 * "Verifying webhooks"), not from our signer: split the signature header on spaces, keep the
 * `v1` entries, compare in constant time, refuse timestamps more than 5 minutes away.
 */
function verify(secret: string, headers: Record<string, string>, body: string, nowSeconds: number): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > 5 * 60) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',', 2);
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const OLD = 'whsec_c2VjcmV0LW9mLXRoZS1vbGQtZW5kcG9pbnQtMTIzNDU2Nzg=';
const NEW = generateSecret();
const NOW = 1_767_600_000;
const BODY = '{"type":"message.received","data":{"subject":"Été"}}';

describe('the Standard Webhooks test vector', () => {
  // From standard-webhooks/standard-webhooks, libraries/go/webhook_test.go (TestWebhookSign),
  // the vector every official library checks.
  it('signs it to the published signature', () => {
    const signature = signatureFor(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('accepts its 24-byte secret', () => {
    expect(secretProblem('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBeNull();
  });
});

describe('generateSecret', () => {
  it('makes whsec_ + base64 of 32 random bytes, different each time', () => {
    const secret = generateSecret();
    expect(secret.startsWith(SECRET_PREFIX)).toBe(true);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(secretProblem(secret)).toBeNull();
    expect(generateSecret()).not.toBe(secret);
  });
});

describe('secretProblem', () => {
  it('accepts 24 to 64 bytes', () => {
    expect(secretProblem(`whsec_${Buffer.alloc(24, 1).toString('base64')}`)).toBeNull();
    expect(secretProblem(`whsec_${Buffer.alloc(64, 1).toString('base64')}`)).toBeNull();
  });

  it.each([
    ['no prefix', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', /does not start with "whsec_"/],
    ['empty', '', /does not start with/],
    ['prefix only', 'whsec_', /decodes to 0 bytes/],
    ['too short', `whsec_${Buffer.alloc(23, 1).toString('base64')}`, /decodes to 23 bytes/],
    ['too long', `whsec_${Buffer.alloc(65, 1).toString('base64')}`, /decodes to 65 bytes/],
    ['a stray character', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La!aSw', /not base64/],
    ['url-safe base64', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La_-Sw', /not base64/],
    ['missing padding', `whsec_${Buffer.alloc(25, 1).toString('base64').replace(/=+$/, '')}`, /not base64/],
    ['a space', 'whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw', /not base64/],
  ])('refuses %s, saying the expected form', (_name, secret, reason) => {
    const problem = secretProblem(secret);
    expect(problem).toMatch(reason);
    expect(problem).toMatch(
      /^a signing secret must be "whsec_" followed by standard base64 of 24 to 64 bytes/,
    );
  });
});

describe('signatureFor', () => {
  it('is v1, + base64 of a 32-byte HMAC-SHA256', () => {
    const signature = signatureFor(NEW, 'msg_1', NOW, BODY);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(signatureFor(NEW, 'msg_1', NOW, BODY)).toBe(signature);
  });

  it('signs the body as UTF-8', () => {
    const key = Buffer.from(OLD.slice(6), 'base64');
    const expected = createHmac('sha256', key)
      .update(Buffer.from(`m.1.${BODY}`, 'utf8'))
      .digest('base64');
    expect(signatureFor(OLD, 'm', 1, BODY)).toBe(`v1,${expected}`);
  });

  it('refuses an invalid secret without echoing it', () => {
    const bad = 'whsec_short';
    const call = () => signatureFor(bad, 'msg_1', NOW, BODY);
    expect(call).toThrow(AppError);
    expect(call).toThrow(/standard base64 of 24 to 64 bytes/);
    expect(call).not.toThrow(/whsec_short/);
  });

  it('refuses an empty id, a header-breaking id and timestamps that are not whole seconds', () => {
    expect(() => signatureFor(NEW, '', NOW, BODY)).toThrow(/webhook id/);
    expect(() => signatureFor(NEW, 'msg\r\nX-Evil: 1', NOW, BODY)).toThrow(/webhook id/);
    expect(() => signatureFor(NEW, 'msg_1', NOW * 1000 + 0.5, BODY)).toThrow(/whole seconds/);
    expect(() => signatureFor(NEW, 'msg_1', -1, BODY)).toThrow(/whole seconds/);
    expect(() => signatureFor(NEW, 'msg_1', Number.NaN, BODY)).toThrow(/whole seconds/);
  });
});

describe('signingHeaders and a receiver following the specification', () => {
  const headers = signingHeaders([NEW, OLD], 'msg_2Ab', NOW, BODY);

  it('gives the three headers, signatures current first', () => {
    expect(headers['webhook-id']).toBe('msg_2Ab');
    expect(headers['webhook-timestamp']).toBe(String(NOW));
    expect(headers['webhook-signature'].split(' ')).toEqual([
      signatureFor(NEW, 'msg_2Ab', NOW, BODY),
      signatureFor(OLD, 'msg_2Ab', NOW, BODY),
    ]);
  });

  it('is accepted by receivers holding either secret during a rotation', () => {
    expect(verify(NEW, { ...headers }, BODY, NOW)).toBe(true);
    expect(verify(OLD, { ...headers }, BODY, NOW)).toBe(true);
    expect(verify(generateSecret(), { ...headers }, BODY, NOW)).toBe(false);
  });

  it('is refused with a tampered body, another id or another timestamp', () => {
    expect(verify(NEW, { ...headers }, `${BODY} `, NOW)).toBe(false);
    expect(verify(NEW, { ...headers }, BODY.replace('Été', 'Ete'), NOW)).toBe(false);
    expect(verify(NEW, { ...headers, 'webhook-id': 'msg_2Ac' }, BODY, NOW)).toBe(false);
    expect(verify(NEW, { ...headers, 'webhook-timestamp': String(NOW + 1) }, BODY, NOW)).toBe(false);
  });

  it('is refused outside the 5-minute tolerance and accepted at its edge', () => {
    expect(verify(NEW, { ...headers }, BODY, NOW + 300)).toBe(true);
    expect(verify(NEW, { ...headers }, BODY, NOW - 300)).toBe(true);
    expect(verify(NEW, { ...headers }, BODY, NOW + 301)).toBe(false);
    expect(verify(NEW, { ...headers }, BODY, NOW - 301)).toBe(false);
  });

  it('signs once per distinct secret and needs at least one', () => {
    expect(signingHeaders([NEW, NEW], 'm', NOW, BODY)['webhook-signature'].split(' ')).toHaveLength(1);
    expect(() => signingHeaders([], 'm', NOW, BODY)).toThrow(/at least one secret/);
    expect(() => signingHeaders([NEW, 'whsec_bad'], 'm', NOW, BODY)).toThrow(AppError);
  });
});
