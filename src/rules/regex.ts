import { RE2JS } from 're2js';

/**
 * Regular expressions of user rules run on RE2 (re2js), never on the native engine: RE2 matches
 * in time linear in the input whatever the pattern, so a rule like `(a+)+$` cannot hang the
 * process as it did in the system Facteur replaces. The price is a smaller syntax (no
 * backreferences, no lookaround), which `regexProblem` explains when a rule is written.
 */

/** Longest pattern accepted: compiling is linear in the pattern, but programs stay small. */
export const MAX_PATTERN_LENGTH = 2000;

/** Compiled patterns kept; rules are few, so 500 holds every live pattern with room to spare. */
const CACHE_SIZE = 500;

type Compiled = { regex: RE2JS } | { problem: string };

/** Insertion-ordered Map as an LRU: a hit is moved to the end, the first key is the oldest. */
const cache = new Map<string, Compiled>();

/** Syntax RE2 refuses that people bring from PCRE/JavaScript, and what to write instead. */
const UNSUPPORTED: ReadonlyArray<{ test: RegExp; what: string }> = [
  { test: /\\[1-9]|\\k</, what: 'backreferences (\\1, \\k<name>)' },
  { test: /\(\?<?[=!]/, what: 'lookaround ((?=...), (?!...), (?<=...), (?<!...))' },
  { test: /\(\?>/, what: 'atomic groups ((?>...))' },
  { test: /[*+?}]\+/, what: 'possessive quantifiers (a*+, a++)' },
];

function compile(pattern: string, caseSensitive: boolean): Compiled {
  const key = `${caseSensitive ? 's' : 'i'}:${pattern}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const compiled = compileUncached(pattern, caseSensitive);
  cache.set(key, compiled);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  return compiled;
}

function compileUncached(pattern: string, caseSensitive: boolean): Compiled {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return { problem: `is longer than ${MAX_PATTERN_LENGTH} characters` };
  }
  try {
    return { regex: RE2JS.compile(pattern, caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE) };
  } catch (error) {
    return { problem: describeProblem(pattern, error) };
  }
}

function describeProblem(pattern: string, error: unknown): string {
  const detail = (error instanceof Error ? error.message : String(error)).replace(
    /^error parsing regexp: /,
    '',
  );
  const unsupported = UNSUPPORTED.find((entry) => entry.test.test(pattern));
  const hint = unsupported
    ? `RE2 syntax does not support ${unsupported.what}; rules run on RE2 so that no pattern can hang the server`
    : 'see https://github.com/google/re2/wiki/Syntax for the RE2 syntax';
  return `is not a valid RE2 regular expression (${detail}); ${hint}`;
}

/** Null when `pattern` compiles under RE2; otherwise why not, with what RE2 does not support. */
export function regexProblem(pattern: string): string | null {
  const compiled = compile(pattern, true);
  return 'problem' in compiled ? compiled.problem : null;
}

/** Whether `pattern` matches anywhere in `text`, in linear time; false for a pattern that does not compile. */
export function regexTest(pattern: string, caseSensitive: boolean, text: string): boolean {
  const compiled = compile(pattern, caseSensitive);
  // Rules are validated on write, so an invalid stored pattern is a bug upstream: it matches
  // nothing rather than failing every message (the backtest trace shows regexProblem's reason).
  if ('problem' in compiled) return false;
  return compiled.regex.test(text);
}

/** How many compiled patterns the cache holds (for tests of the LRU bound). */
export function regexCacheSize(): number {
  return cache.size;
}
