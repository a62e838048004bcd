import { ParseProblem, parseDuration } from './parsers.js';
import { variable } from './variable-kit.js';

/** The boot variables of dashboard sign-in and sessions (access/), spread into `BOOT_VARIABLES`. */

const SECTION = 'Dashboard sign-in';

function durationAtLeast(minMs: number, shown: string) {
  return (raw: string): number => {
    const ms = parseDuration(raw);
    if (ms < minMs) throw new ParseProblem(`expected a duration of at least ${shown}`);
    return ms;
  };
}

export const ACCESS_VARIABLES = {
  sessionIdleMs: variable({
    name: 'FACTEUR_SESSION_IDLE',
    section: SECTION,
    unset: '12h',
    form: 'duration, at least 1m',
    parse: durationAtLeast(60_000, '1m'),
    description: 'A dashboard session unused for this long ends; the person signs in again.',
  }),
  sessionMaxAgeMs: variable({
    name: 'FACTEUR_SESSION_MAX_AGE',
    section: SECTION,
    unset: '7d',
    form: 'duration, at least 1m',
    parse: durationAtLeast(60_000, '1m'),
    description: 'A dashboard session ends this long after sign-in, however much it is used.',
  }),
  loginLockMs: variable({
    name: 'FACTEUR_LOGIN_LOCK',
    section: SECTION,
    unset: '15m',
    form: 'duration, at least 1s',
    parse: durationAtLeast(1000, '1s'),
    description:
      'After ten wrong passwords within a minute for one account or from one address, password sign-in for that account and that address is refused for this long (LOGIN_LOCKED), and the lock is audited.',
  }),
  loginLinkTtlMs: variable({
    name: 'FACTEUR_LOGIN_LINK_TTL',
    section: SECTION,
    unset: '15m',
    form: 'duration, 1m to 24h',
    parse: (raw) => {
      const ms = durationAtLeast(60_000, '1m')(raw);
      if (ms > 86_400_000) throw new ParseProblem('expected a duration of at most 24h');
      return ms;
    },
    description: 'How long an emailed sign-in link works. Each link works once, and a newer one revokes it.',
  }),
};
