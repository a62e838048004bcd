import { describe, expect, it } from 'vitest';
import { MAX_PATTERN_LENGTH, regexCacheSize, regexProblem, regexTest } from './regex.js';

describe('regexProblem', () => {
  it('accepts RE2 syntax', () => {
    expect(regexProblem('^lot\\s+\\d+$')).toBeNull();
    expect(regexProblem('(?i)média|(?P<n>x)')).toBeNull();
  });

  it('names backreferences as unsupported by RE2', () => {
    const problem = regexProblem('(a)\\1');
    expect(problem).toMatch(/not a valid RE2 regular expression/);
    expect(problem).toMatch(/RE2 syntax does not support backreferences/);
  });

  it.each([
    ['(?=a)b', 'lookaround'],
    ['(?!a)b', 'lookaround'],
    ['(?<=a)b', 'lookaround'],
    ['(?<!a)b', 'lookaround'],
  ])('names lookaround in %s as unsupported', (pattern, what) => {
    expect(regexProblem(pattern)).toMatch(new RegExp(`does not support ${what}`));
  });

  it('explains other syntax errors with a pointer to the RE2 syntax', () => {
    const problem = regexProblem('[abc');
    expect(problem).toMatch(/missing closing \]/);
    expect(problem).toMatch(/re2\/wiki\/Syntax/);
  });

  it('refuses patterns longer than the limit', () => {
    expect(regexProblem('a'.repeat(MAX_PATTERN_LENGTH + 1))).toMatch(/longer than 2000/);
  });
});

describe('regexTest', () => {
  it('finds a match anywhere, case-insensitive unless asked', () => {
    expect(regexTest('lot \\d+', false, 'Missions Recadrage - LOT 42')).toBe(true);
    expect(regexTest('lot \\d+', true, 'Missions Recadrage - LOT 42')).toBe(false);
    expect(regexTest('^Missions', true, 'Missions Recadrage')).toBe(true);
    expect(regexTest('^Recadrage', true, 'Missions Recadrage')).toBe(false);
  });

  it('matches nothing for a pattern that does not compile', () => {
    expect(regexTest('(a)\\1', false, 'aa')).toBe(false);
  });

  // Catastrophic patterns for backtracking engines: RE2 answers correctly in linear time. No
  // timing assertion (that is a benchmark's job); a backtracking engine would not return at all.
  const long = 100_000;
  it('answers (a+)+$ on 100k characters', () => {
    expect(regexTest('(a+)+$', true, `${'a'.repeat(long)}!`)).toBe(false);
    expect(regexTest('(a+)+$', true, 'a'.repeat(long))).toBe(true);
  });

  it('answers (x+x+)+y on 100k characters', () => {
    expect(regexTest('(x+x+)+y', true, 'x'.repeat(long))).toBe(false);
    expect(regexTest('(x+x+)+y', true, `${'x'.repeat(long)}y`)).toBe(true);
  });

  it('answers (.*a){20} on 100k characters', () => {
    expect(regexTest('(.*a){20}', true, 'a'.repeat(long))).toBe(true);
    expect(regexTest('(.*a){20}', true, `${'a'.repeat(19)}${'b'.repeat(long)}`)).toBe(false);
  });

  it('keeps at most 500 compiled patterns', () => {
    for (let i = 0; i < 600; i++) regexTest(`x${i}y`, true, 'x1y');
    expect(regexCacheSize()).toBe(500);
    // A pattern compiled long ago still works after being evicted.
    expect(regexTest('x0y', true, 'ax0yb')).toBe(true);
  });
});
