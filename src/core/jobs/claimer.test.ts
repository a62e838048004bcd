import { describe, expect, it } from 'vitest';
import { KeySlots } from './key-slots.js';

/** Per-key slot accounting, without a database. */
describe('KeySlots', () => {
  it('gives a key as many slots as its limit, and jobs without a key always one', () => {
    const slots = new KeySlots(() => 2);
    expect(slots.reserve('a')).toBe(true);
    expect(slots.reserve('a')).toBe(true);
    expect(slots.reserve('a')).toBe(false);
    expect(slots.running('a')).toBe(2);
    expect(slots.free('a')).toBe(0);
    expect(slots.reserve('b')).toBe(true);
    for (let i = 0; i < 10; i++) expect(slots.reserve(null)).toBe(true);
    expect(slots.saturated()).toEqual(['a']);
  });

  it('reads each key its own limit at every decision', () => {
    const limits = new Map([
      ['small', 1],
      ['large', 3],
    ]);
    const slots = new KeySlots((key) => limits.get(key) ?? 1);
    expect(slots.reserve('small')).toBe(true);
    expect(slots.reserve('small')).toBe(false);
    expect([slots.reserve('large'), slots.reserve('large'), slots.reserve('large')]).toEqual([
      true,
      true,
      true,
    ]);
    expect(slots.saturated().sort()).toEqual(['large', 'small']);
    limits.set('large', 5); // the endpoint's settings changed
    expect(slots.saturated()).toEqual(['small']);
    expect(slots.free('large')).toBe(2);
    limits.set('large', 1); // lowered below what runs: no new slot until enough finish
    expect(slots.free('large')).toBe(-2);
    expect(slots.reserve('large')).toBe(false);
  });

  it('frees a key that was saturated when one of its jobs finishes, and forgets it once taken', () => {
    const slots = new KeySlots(() => 1);
    slots.reserve('a');
    expect(slots.hasFreed()).toBe(false);
    slots.release('a');
    expect(slots.hasFreed()).toBe(true);
    expect(slots.running('a')).toBe(0);
    expect(slots.saturated()).toEqual([]);
    expect(slots.takeFreed()).toEqual(['a']);
    expect(slots.hasFreed()).toBe(false);
    expect(slots.takeFreed()).toEqual([]);
  });

  it('does not free a key that had slots to spare, unless jobs of it wait (backlogged)', () => {
    const slots = new KeySlots(() => 3);
    slots.reserve('a');
    slots.release('a');
    expect(slots.hasFreed()).toBe(false);
    slots.reserve('a');
    slots.setBacklogged('a', true);
    expect(slots.isBacklogged('a')).toBe(true);
    slots.release('a');
    expect(slots.takeFreed()).toEqual(['a']);
    // Still backlogged until a claim for the key comes back short.
    expect(slots.isBacklogged('a')).toBe(true);
    slots.setBacklogged('a', false);
    slots.reserve('a');
    slots.release('a');
    expect(slots.hasFreed()).toBe(false);
  });

  it('ignores a release without a key and keeps counting the others', () => {
    const slots = new KeySlots(() => 2);
    slots.reserve('a');
    slots.reserve('a');
    slots.release(null);
    expect(slots.running('a')).toBe(2);
    slots.release('a');
    expect(slots.running('a')).toBe(1);
    expect(slots.takeFreed()).toEqual(['a']);
    slots.release('a');
    expect(slots.running('a')).toBe(0);
    expect(slots.hasFreed()).toBe(false);
  });
});
