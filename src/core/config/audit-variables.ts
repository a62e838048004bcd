import { ParseProblem, parseDuration } from './parsers.js';
import { variable } from './variable-kit.js';

/** The boot variables of the audit log (audit/), spread into `BOOT_VARIABLES`. */

export const AUDIT_VARIABLES = {
  auditRetentionMs: variable({
    name: 'FACTEUR_AUDIT_RETENTION',
    section: 'Audit log',
    unset: '365d',
    form: 'duration, at least 1d',
    parse: (raw) => {
      const ms = parseDuration(raw);
      if (ms < 86_400_000) throw new ParseProblem('expected a duration of at least 1d');
      return ms;
    },
    description:
      'How long audit log entries are kept (`GET /api/audit`, see [security.md](security.md#the-audit-log)). Older entries are deleted in batches at start and then about once an hour.',
  }),
};
