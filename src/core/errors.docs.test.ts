import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tableRows } from '../../test/support/markdown.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

/**
 * Keeps `docs/errors.md` in step with the code registry: one table row per code, with the
 * registry's HTTP status, retryable flag and documentation sentence.
 */

const DOC_PATH = new URL('../../docs/errors.md', import.meta.url);
const HEADER = ['Code', 'HTTP status', 'Retryable', 'Meaning'];

interface DocumentedCode {
  code: string;
  status: string;
  retryable: string;
  meaning: string;
  line: number;
}

/** The rows of every table whose header is `| Code | HTTP status | Retryable | Meaning |`. */
function documentedCodes(markdown: string): DocumentedCode[] {
  return tableRows(markdown, HEADER).map(
    ({ cells: [code = '', status = '', retryable = '', meaning = ''], line }) => ({
      code: code.replace(/^`|`$/g, ''),
      status,
      retryable,
      meaning,
      line,
    }),
  );
}

describe('docs/errors.md', () => {
  const rows = documentedCodes(readFileSync(DOC_PATH, 'utf8'));
  const registry = Object.entries(ERROR_CODES) as Array<[ErrorCode, (typeof ERROR_CODES)[ErrorCode]]>;

  it('has a code table', () => {
    expect(
      rows.length,
      `no table with the header | ${HEADER.join(' | ')} | in docs/errors.md`,
    ).toBeGreaterThan(0);
  });

  it('documents exactly the codes of ERROR_CODES, once each', () => {
    const documented = rows.map((r) => r.code);
    const missing = registry.map(([code]) => code).filter((code) => !documented.includes(code));
    const extra = documented.filter((code) => !Object.hasOwn(ERROR_CODES, code));
    const twice = documented.filter((code, index) => documented.indexOf(code) !== index);
    const problems = [
      ...missing.map((name) => `missing from docs/errors.md: ${name}`),
      ...extra.map((name) => `in docs/errors.md but not in ERROR_CODES: ${name}`),
      ...twice.map((name) => `documented more than once in docs/errors.md: ${name}`),
    ];
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('gives each code the status, retryable flag and sentence of the registry', () => {
    const problems: string[] = [];
    for (const row of rows) {
      if (!Object.hasOwn(ERROR_CODES, row.code)) continue;
      const info = ERROR_CODES[row.code as ErrorCode];
      const where = `${row.code} (docs/errors.md line ${row.line})`;
      if (row.status !== String(info.status))
        problems.push(`${where}: HTTP status is ${row.status}, the registry says ${info.status}`);
      const retryable = info.retryable ? 'yes' : 'no';
      if (row.retryable !== retryable)
        problems.push(`${where}: retryable is "${row.retryable}", the registry says "${retryable}"`);
      if (!row.meaning.startsWith(info.doc))
        problems.push(`${where}: the meaning must start with the registry's sentence: "${info.doc}"`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
