import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { CircuitBreaker } from './breaker.js';

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, probes once after the wait, and closes on success', () => {
    const clock = new ManualClock();
    const states: string[] = [];
    const breaker = new CircuitBreaker({
      clock,
      failureThreshold: 3,
      halfOpenAfterMs: 10_000,
      onStateChange: (s) => states.push(s),
    });
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.acquire()).toEqual({ allowed: true, probe: false });
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.acquire()).toEqual({ allowed: false, retryAt: clock.now() + 10_000 });
    clock.advance(10_000);
    expect(breaker.state).toBe('half_open');
    expect(breaker.acquire()).toEqual({ allowed: true, probe: true });
    expect(breaker.acquire()).toMatchObject({ allowed: false }); // one probe at a time
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.acquire()).toEqual({ allowed: true, probe: false });
    expect(states).toEqual(['open', 'half_open', 'closed']);
  });

  it('reopens when the probe fails, and a success in between resets the count', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 2, halfOpenAfterMs: 1000 });
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    expect(breaker.state).toBe('closed');
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    clock.advance(1000);
    expect(breaker.acquire()).toMatchObject({ allowed: true, probe: true });
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.acquire()).toEqual({ allowed: false, retryAt: clock.now() + 1000 });
  });

  it('replaces a probe that never reported', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 1, halfOpenAfterMs: 1000 });
    breaker.recordFailure();
    clock.advance(1000);
    expect(breaker.acquire()).toMatchObject({ allowed: true, probe: true });
    clock.advance(999);
    expect(breaker.acquire()).toMatchObject({ allowed: false });
    clock.advance(1);
    expect(breaker.acquire()).toMatchObject({ allowed: true, probe: true });
  });
});
