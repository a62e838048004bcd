import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { DependencySample } from '../core/observability/dependencies.js';
import { silentLogger } from '../core/observability/logger.js';
import { TransportState } from './transport-state.js';

const unreachable = new AppError('SMTP_CONNECT', 'connection refused');
const refused = new AppError('SMTP_REJECTED', '550 no such user');

function setup() {
  const clock = new ManualClock(1_000_000);
  const samples: DependencySample[] = [];
  let closed = 0;
  const state = new TransportState({
    name: 'relay',
    clock,
    logger: silentLogger(),
    breakerThreshold: 2,
    breakerOpenMs: 10_000,
    countsTowardBreaker: (error) => error.code === 'SMTP_CONNECT',
    breakerLog: { event: 'test.breaker', subject: 'relay' },
    failureLog: { event: 'test.failed', message: 'send failed' },
    openedBy: 'repeated connection failures',
    onCircuitClosed: () => closed++,
    observe: (sample) => samples.push(sample),
  });
  return { clock, samples, state, closedCount: () => closed };
}

describe('TransportState', () => {
  it('opens after the threshold, refuses sends until the wait is over, and reports down', () => {
    const { clock, state } = setup();
    state.failed(unreachable, performance.now());
    expect(state.health({ host: 'h' })).toMatchObject({
      status: 'degraded',
      detail: { breaker: 'closed', host: 'h' },
    });
    state.failed(unreachable, performance.now());
    expect(state.reserveSend()).toEqual({ ok: false, retryAt: 1_010_000 });
    expect(state.health({})).toMatchObject({
      status: 'down',
      message: 'circuit open after repeated connection failures',
      lastError: { message: 'connection refused', at: 1_000_000 },
      lastSuccessAt: null,
    });
    clock.advance(10_000);
    expect(state.reserveSend()).toEqual({ ok: true });
    expect(state.health({}).status).toBe('degraded');
  });

  it('a held probe answered with a refusal closes the breaker: the server is up', () => {
    const { clock, state, closedCount } = setup();
    state.failed(unreachable, performance.now());
    state.failed(unreachable, performance.now());
    clock.advance(10_000);
    expect(state.reserveSend()).toEqual({ ok: true });
    state.failed(refused, performance.now());
    expect(closedCount()).toBe(1);
    expect(state.health({}).detail).toEqual({ breaker: 'closed' });
  });

  it('a success after a failure reads ok, and each outcome is one sample', () => {
    const { clock, samples, state } = setup();
    state.failed(refused, performance.now());
    clock.advance(1000);
    state.succeeded(performance.now());
    expect(state.health({})).toMatchObject({ status: 'ok', lastSuccessAt: 1_001_000 });
    expect(samples.map((s) => [s.kind, s.name, s.outcome])).toEqual([
      ['transport', 'relay', 'SMTP_REJECTED'],
      ['transport', 'relay', 'ok'],
    ]);
    expect(samples.every((s) => s.ms >= 0)).toBe(true);
  });
});
