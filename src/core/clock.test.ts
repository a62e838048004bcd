import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';

describe('ManualClock', () => {
  it('fires due timers in time order, then creation order, with the time they were due', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push(`c@${clock.now()}`));
    clock.setTimer(10, () => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(5, () => fired.push(`a2@${clock.now()}`)); // created while firing, due at 15
    });
    clock.setTimer(10, () => fired.push(`b@${clock.now()}`));
    const cancelled = clock.setTimer(20, () => fired.push('never'));
    clock.setTimer(100, () => fired.push('later'));
    cancelled.cancel();
    clock.advance(50);
    expect(fired).toEqual(['a@10', 'b@10', 'a2@15', 'c@30']);
    expect(clock.now()).toBe(50);
    expect(clock.pendingTimers).toBe(1);
  });

  it('runs a periodic timer once per period over a long jump, and keeps only live timers', () => {
    const clock = new ManualClock(0);
    let ticks = 0;
    const tick = () => {
      ticks++;
      clock.setTimer(10_000, tick);
    };
    clock.setTimer(10_000, tick);
    clock.advance(11 * 3_600_000); // eleven hours of a 10 s heartbeat
    expect(ticks).toBe(3960);
    expect(clock.pendingTimers).toBe(1);
  });
});
