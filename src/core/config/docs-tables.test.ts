import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, renderVariableTables } from './docs-tables.js';

/**
 * docs/configuration.md's variable tables are generated from BOOT_VARIABLES: the file must be
 * exactly what the generator writes. Fix a failure with `npx tsx src/core/config/docs-tables.ts`
 * (then read the diff), or by editing the variable in variables.ts, never the table by hand.
 */

describe('docs/configuration.md variable tables', () => {
  it('are the ones generated from BOOT_VARIABLES', () => {
    const markdown = readFileSync(CONFIGURATION_DOC, 'utf8');
    expect(
      renderVariableTables(markdown),
      'docs/configuration.md is out of date: run `npx tsx src/core/config/docs-tables.ts`',
    ).toBe(markdown);
  });

  it('refuses a table under a heading that has no variables, and a section without a table', () => {
    const table = '| Variable | Default | Form | Meaning |\n| --- | --- | --- | --- |\n';
    expect(() => renderVariableTables(`## Elsewhere\n\n${table}`)).toThrow(/not a section of BOOT_VARIABLES/);
    expect(() => renderVariableTables(`## Server\n\n${table}`)).toThrow(/no variable table under .*Storage/);
  });
});
