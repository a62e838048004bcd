import { describe, expect, it } from 'vitest';
import { parseBootConfig } from './index.js';

describe('audit log variables', () => {
  it('keeps entries 365 days by default and reads a written duration', () => {
    const defaults = parseBootConfig({}, { cwd: '/srv' });
    if (!defaults.ok) throw new Error(JSON.stringify(defaults.problems));
    expect(defaults.config.audit).toEqual({ retentionMs: 365 * 86_400_000 });
    const set = parseBootConfig({ FACTEUR_AUDIT_RETENTION: '90d' }, { cwd: '/srv' });
    if (!set.ok) throw new Error(JSON.stringify(set.problems));
    expect(set.config.audit.retentionMs).toBe(90 * 86_400_000);
  });

  it('refuses less than a day, or something that is not a duration, naming the variable', () => {
    for (const raw of ['1h', 'forever', '-1d']) {
      const result = parseBootConfig({ FACTEUR_AUDIT_RETENTION: raw }, { cwd: '/srv' });
      expect(result.ok, raw).toBe(false);
      if (!result.ok)
        expect(result.problems).toEqual([expect.objectContaining({ variable: 'FACTEUR_AUDIT_RETENTION' })]);
    }
  });
});
