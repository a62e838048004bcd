import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import {
  type AnswerRules,
  type AnswerVerdict,
  type HttpAnswer,
  judgeAnswer,
  parseRetryAfter,
} from './response.js';

const NOW = Date.parse('2026-01-05T09:00:00Z');
const ANY: AnswerRules = { successRule: 'any-2xx', retryOn4xx: false };
const JSON_SUCCESS: AnswerRules = { successRule: 'json-success', retryOn4xx: false };

function answer(statusCode: number, headers: Record<string, string> = {}, body = ''): HttpAnswer {
  return { statusCode, headers, body };
}

function failed(verdict: AnswerVerdict) {
  if (verdict.ok) throw new Error('expected a failure');
  expect(verdict.error).toBeInstanceOf(AppError);
  return verdict;
}

describe('judgeAnswer: 2xx', () => {
  it.each([200, 201, 202, 204, 206, 299])('counts %i as success under any-2xx', (status) => {
    expect(judgeAnswer(answer(status), ANY, NOW)).toEqual({ ok: true });
  });

  it.each(['{"success":true}', ' {"success": true, "id": 3}\n'])('accepts %j under json-success', (body) => {
    expect(judgeAnswer(answer(200, {}, body), JSON_SUCCESS, NOW)).toEqual({ ok: true });
    expect(judgeAnswer(answer(201, {}, body), JSON_SUCCESS, NOW)).toEqual({ ok: true });
  });

  it.each([
    '',
    'OK',
    '{"success":"true"}',
    '{"success":1}',
    '{"success":false}',
    '{"ok":true}',
    '[{"success":true}]',
    'true',
    'null',
  ])('retries %j under json-success as not confirmed, quoting the body', (body) => {
    const { error, disableEndpoint, unsupportedMediaType } = failed(
      judgeAnswer(answer(200, {}, body), JSON_SUCCESS, NOW),
    );
    expect(error.code).toBe('WEBHOOK_NOT_CONFIRMED');
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({ statusCode: 200 });
    expect(error.message).toMatch(
      /^the receiver answered 200 OK without a JSON body whose "success" is true/,
    );
    expect(error.message).toMatch(/retried/);
    expect(error.message).toContain(body === '' ? 'Body: empty.' : `Body: ${JSON.stringify(body)}.`);
    expect([disableEndpoint, unsupportedMediaType]).toEqual([false, false]);
  });

  it('quotes at most 200 characters of a long body, never half a character', () => {
    const long = `${'x'.repeat(199)}😀${'y'.repeat(500)}`;
    const { error } = failed(judgeAnswer(answer(200, {}, long), JSON_SUCCESS, NOW));
    expect(error.message).toContain(`Body: "${'x'.repeat(199)}" (cut).`);
    expect(error.message).not.toContain('😀');
    expect(error.message).not.toContain('yy');
    const { error: exact } = failed(judgeAnswer(answer(200, {}, 'z'.repeat(200)), JSON_SUCCESS, NOW));
    expect(exact.message).toContain(`"${'z'.repeat(200)}".`);
  });
});

describe('judgeAnswer: failures', () => {
  it('does not follow or retry a redirect, naming its target', () => {
    const { error } = failed(judgeAnswer(answer(301, { Location: 'https://new.example/hook' }), ANY, NOW));
    expect(error.code).toBe('WEBHOOK_REDIRECTED');
    expect(error.retryable).toBe(false);
    expect(error.details).toEqual({ statusCode: 301, location: 'https://new.example/hook' });
    expect(error.message).toMatch(
      /answered 301 Moved Permanently redirecting to https:\/\/new\.example\/hook/,
    );
    expect(error.message).toMatch(/not retried/);
    const bare = failed(judgeAnswer(answer(307), ANY, NOW)).error;
    expect(bare.details).toEqual({ statusCode: 307 });
    expect(bare.message).toMatch(/without a Location header/);
  });

  it('disables the endpoint on 410', () => {
    const verdict = failed(judgeAnswer(answer(410), { successRule: 'any-2xx', retryOn4xx: true }, NOW));
    expect(verdict.error.code).toBe('WEBHOOK_GONE');
    expect(verdict.error.retryable).toBe(false);
    expect(verdict.error.details).toEqual({ statusCode: 410 });
    expect(verdict.error.message).toMatch(/410 Gone.*not retried and the endpoint is disabled/);
    expect(verdict.disableEndpoint).toBe(true);
    expect(verdict.unsupportedMediaType).toBe(false);
  });

  it('flags 415 so the other body format can be tried', () => {
    const verdict = failed(judgeAnswer(answer(415), ANY, NOW));
    expect(verdict.error.code).toBe('WEBHOOK_UNSUPPORTED_MEDIA_TYPE');
    expect(verdict.error.retryable).toBe(false);
    expect(verdict.error.details).toEqual({ statusCode: 415 });
    expect(verdict.error.message).toMatch(/415 Unsupported Media Type/);
    expect(verdict.unsupportedMediaType).toBe(true);
    expect(verdict.disableEndpoint).toBe(false);
  });

  it('retries 429 no earlier than its Retry-After', () => {
    const { error } = failed(judgeAnswer(answer(429, { 'retry-after': '120' }), ANY, NOW));
    expect(error.code).toBe('WEBHOOK_RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(120_000);
    expect(error.details).toEqual({ statusCode: 429, retryAfterMs: 120_000 });
    expect(error.message).toMatch(/429 Too Many Requests; retried no earlier than in 120 s/);
    const plain = failed(judgeAnswer(answer(429), ANY, NOW)).error;
    expect(plain.retryAfterMs).toBeUndefined();
    expect(plain.details).toEqual({ statusCode: 429 });
    expect(plain.message).toMatch(/retried on the endpoint's schedule/);
  });

  it("honours a 503's Retry-After, in any header case and as a date", () => {
    const headers = { 'Retry-After': 'Mon, 05 Jan 2026 09:05:00 GMT' };
    const { error } = failed(judgeAnswer(answer(503, headers), ANY, NOW));
    expect(error.code).toBe('WEBHOOK_SERVER_ERROR');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(300_000);
    expect(error.details).toEqual({ statusCode: 503, retryAfterMs: 300_000 });
  });

  it.each([500, 502, 504, 599])('retries %i on schedule, ignoring Retry-After', (status) => {
    const { error } = failed(judgeAnswer(answer(status, { 'retry-after': '60' }), ANY, NOW));
    expect(error.code).toBe('WEBHOOK_SERVER_ERROR');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.details).toEqual({ statusCode: status });
    expect(error.message).toMatch(/retried on the endpoint's schedule/);
  });

  it.each([400, 401, 403, 404, 405, 409, 422, 451, 499])(
    'rejects %i, retrying only with retryOn4xx',
    (status) => {
      const permanent = failed(judgeAnswer(answer(status), ANY, NOW)).error;
      expect(permanent.code).toBe('WEBHOOK_REJECTED');
      expect(permanent.retryable).toBe(false);
      expect(permanent.details).toEqual({ statusCode: status });
      expect(permanent.message).toMatch(/not retried \(set retryOn4xx/);
      const retried = failed(
        judgeAnswer(answer(status), { successRule: 'any-2xx', retryOn4xx: true }, NOW),
      ).error;
      expect(retried.code).toBe('WEBHOOK_REJECTED');
      expect(retried.retryable).toBe(true);
      expect(retried.message).toMatch(/retried on the endpoint's schedule, as the endpoint sets retryOn4xx/);
    },
  );

  it.each([100, 101, 199, 0, 600, 999])('treats the odd status %i as a retryable server error', (status) => {
    const { error } = failed(judgeAnswer(answer(status), ANY, NOW));
    expect(error.code).toBe('WEBHOOK_SERVER_ERROR');
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({ statusCode: status });
  });

  it('judges a failing status the same under json-success', () => {
    expect(failed(judgeAnswer(answer(500, {}, '{"success":true}'), JSON_SUCCESS, NOW)).error.code).toBe(
      'WEBHOOK_SERVER_ERROR',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 5 ', NOW)).toBe(5_000);
  });

  it('reads the three HTTP-date forms as UTC', () => {
    expect(parseRetryAfter('Mon, 05 Jan 2026 09:01:30 GMT', NOW)).toBe(90_000);
    expect(parseRetryAfter('Monday, 05-Jan-26 09:01:30 GMT', NOW)).toBe(90_000);
    expect(parseRetryAfter('Mon Jan  5 09:01:30 2026', NOW)).toBe(90_000);
    expect(parseRetryAfter('Mon Jan 15 09:00:00 2026', NOW)).toBe(86_400_000); // capped
  });

  it('never returns a negative wait or more than a day', () => {
    expect(parseRetryAfter('Sun, 04 Jan 2026 09:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('86401', NOW)).toBe(86_400_000);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(86_400_000);
    expect(parseRetryAfter('Tue, 06 Jan 2026 09:00:00 GMT', NOW)).toBe(86_400_000);
  });

  it.each([
    undefined,
    '',
    '-5',
    '1.5',
    '1e3',
    'soon',
    '5 s',
    '2026-01-05T09:05:00Z',
    'Mon, 05 Jan 2026 09:05:00 UTC',
    'Mon, 5 Jan 2026 09:05:00 GMT',
    'Mon, 31 Feb 2026 09:05:00 GMT',
    'Mon, 05 Jan 2026 24:05:00 GMT',
    'Mon, 05 Jan 2026 09:60:00 GMT',
    'Mon, 05 Foo 2026 09:05:00 GMT',
  ])('gives undefined for %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});
