/** Reading Markdown tables, for the tests that keep docs/ in step with the code. */

/** One body row of a table: its cells and its 1-based line number in the file. */
export interface TableRow {
  cells: string[];
  line: number;
}

/** Splits a Markdown table row on unescaped pipes and unescapes `\|` in the cells. */
export function tableCells(line: string): string[] {
  const inner = line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

/** The body rows of every table whose header row is exactly `header`. */
export function tableRows(markdown: string, header: readonly string[]): TableRow[] {
  const lines = markdown.split('\n');
  const rows: TableRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]?.trim().startsWith('|') || tableCells(lines[i] as string).join('|') !== header.join('|'))
      continue;
    for (let j = i + 2; j < lines.length && lines[j]?.trim().startsWith('|'); j++) {
      rows.push({ cells: tableCells(lines[j] as string), line: j + 1 });
    }
  }
  return rows;
}
