import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import {
  attemptsForSchedule,
  decideSettlement,
  JobDeferral,
  outcomeOfThrown,
  type RetryPolicy,
  retryDelay,
} from './model.js';

const noJitter = () => 0.5;
const schedule: RetryPolicy = { kind: 'schedule', delaysMs: [0, 5000, 300_000], jitter: 0.1 };

describe('retryDelay', () => {
  it('follows an explicit schedule and repeats its last step', () => {
    expect([1, 2, 3, 4, 9].map((a) => retryDelay(schedule, a, noJitter))).toEqual([
      0, 5000, 300_000, 300_000, 300_000,
    ]);
  });

  it('keeps jitter within the stated fraction', () => {
    expect(retryDelay(schedule, 2, () => 0)).toBe(4500);
    expect(retryDelay(schedule, 2, () => 0.999_999)).toBe(5500);
  });

  it('grows exponentially up to the cap', () => {
    const policy: RetryPolicy = { kind: 'exponential', initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelay(policy, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('counts one attempt per scheduled delay plus the first', () => {
    expect(attemptsForSchedule([10, 20, 30])).toBe(4);
  });
});

describe('decideSettlement', () => {
  const now = 1_000_000;
  const transient = new AppError('SMTP_TRANSIENT', '451 try later');

  it('records success with the result', () => {
    expect(
      decideSettlement(
        { attempts: 1, maxAttempts: 3 },
        { kind: 'succeeded', result: { ok: 1 } },
        schedule,
        now,
      ),
    ).toEqual({
      status: 'succeeded',
      result: { ok: 1 },
    });
  });

  it('schedules a retry after a retryable error while attempts remain', () => {
    const settlement = decideSettlement(
      { attempts: 2, maxAttempts: 4 },
      { kind: 'errored', error: transient },
      schedule,
      now,
      noJitter,
    );
    expect(settlement).toEqual({ status: 'queued', runAt: now + 5000, error: transient, deferred: false });
  });

  it('honours retryAfterMs when it is longer than the policy delay', () => {
    const error = new AppError('SMTP_TRANSIENT', 'slow down', { retryAfterMs: 60_000 });
    const settlement = decideSettlement(
      { attempts: 1, maxAttempts: 4 },
      { kind: 'errored', error },
      schedule,
      now,
      noJitter,
    );
    expect(settlement).toMatchObject({ status: 'queued', runAt: now + 60_000 });
  });

  it('goes dead when retries are exhausted', () => {
    expect(
      decideSettlement({ attempts: 4, maxAttempts: 4 }, { kind: 'errored', error: transient }, schedule, now),
    ).toEqual({
      status: 'dead',
      error: transient,
    });
  });

  it('fails at once on a non-retryable error, whatever the attempts left', () => {
    const rejected = new AppError('SMTP_REJECTED', '550 no such user');
    expect(
      decideSettlement({ attempts: 1, maxAttempts: 9 }, { kind: 'errored', error: rejected }, schedule, now),
    ).toEqual({
      status: 'failed',
      error: rejected,
    });
  });

  it('keeps the reason of a deferral as the error, without spending an attempt', () => {
    const why = new AppError('SMTP_UNAVAILABLE', 'breaker open');
    const outcome = outcomeOfThrown(new JobDeferral(now + 30_000, 'breaker open', why));
    expect(decideSettlement({ attempts: 1, maxAttempts: 1 }, outcome, schedule, now)).toEqual({
      status: 'queued',
      runAt: now + 30_000,
      error: why,
      deferred: true,
    });
  });

  it('re-queues a deferral at its time without an error', () => {
    expect(
      decideSettlement(
        { attempts: 1, maxAttempts: 1 },
        { kind: 'deferred', runAt: now + 10, reason: 'window' },
        schedule,
        now,
      ),
    ).toEqual({
      status: 'queued',
      runAt: now + 10,
      error: null,
      deferred: true,
    });
  });
});

describe('outcomeOfThrown', () => {
  it('keeps AppErrors, recognises deferrals and wraps anything else as a retryable JOB_ERROR', () => {
    const app = new AppError('SMTP_REJECTED', 'no');
    expect(outcomeOfThrown(app)).toEqual({ kind: 'errored', error: app });
    expect(outcomeOfThrown(new JobDeferral(5, 'later'))).toEqual({
      kind: 'deferred',
      runAt: 5,
      reason: 'later',
    });
    const wrapped = outcomeOfThrown(new TypeError('boom'));
    expect(wrapped.kind).toBe('errored');
    if (wrapped.kind === 'errored') {
      expect(wrapped.error.code).toBe('JOB_ERROR');
      expect(wrapped.error.retryable).toBe(true);
      expect(wrapped.error.message).toBe('boom');
    }
  });
});
