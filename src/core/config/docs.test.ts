import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tableRows } from '../../../test/support/markdown.js';
import { VARIABLES } from './variables.js';

/**
 * Keeps `docs/configuration.md` in step with the `VARIABLES` table: the variable tables list
 * exactly these variables, each with the default of the spec. A variable without a default is
 * documented as `(none)`. Backticks in the Default column are formatting and are ignored.
 */

const DOC_PATH = new URL('../../../docs/configuration.md', import.meta.url);
const HEADER = ['Variable', 'Default', 'Form', 'Meaning'];
const NO_DEFAULT = '(none)';

interface DocumentedVariable {
  name: string;
  default: string;
  line: number;
}

/** The rows of every table whose header is `| Variable | Default | Form | Meaning |`. */
function documentedVariables(markdown: string): DocumentedVariable[] {
  return tableRows(markdown, HEADER).map(({ cells: [name = '', defaultValue = ''], line }) => ({
    name: name.replace(/`/g, ''),
    default: defaultValue.replace(/`/g, ''),
    line,
  }));
}

describe('docs/configuration.md', () => {
  const rows = documentedVariables(readFileSync(DOC_PATH, 'utf8'));

  it('has variable tables', () => {
    expect(
      rows.length,
      `no table with the header | ${HEADER.join(' | ')} | in docs/configuration.md`,
    ).toBeGreaterThan(0);
  });

  it('documents exactly the variables of VARIABLES, once each', () => {
    const documented = rows.map((r) => r.name);
    const known = VARIABLES.map((v) => v.name);
    const missing = known.filter((name) => !documented.includes(name));
    const extra = documented.filter((name) => !known.includes(name));
    const twice = documented.filter((name, index) => documented.indexOf(name) !== index);
    const problems = [
      ...missing.map((name) => `missing from docs/configuration.md: ${name}`),
      ...extra.map((name) => `in docs/configuration.md but not in VARIABLES: ${name}`),
      ...twice.map((name) => `documented more than once in docs/configuration.md: ${name}`),
    ];
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('gives each variable the default of the spec', () => {
    const problems: string[] = [];
    for (const row of rows) {
      const spec = VARIABLES.find((v) => v.name === row.name);
      if (!spec) continue;
      const expected = spec.default ?? NO_DEFAULT;
      if (row.default !== expected)
        problems.push(
          `${row.name} (docs/configuration.md line ${row.line}): default is "${row.default}", the spec says "${expected}"`,
        );
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
