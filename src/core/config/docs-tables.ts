import { readFileSync, writeFileSync } from 'node:fs';
import { argv } from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BOOT_VARIABLES, type BootVariable, documentedDefault } from './variables.js';

/**
 * The variable tables of `docs/configuration.md`, generated from `BOOT_VARIABLES`: each table
 * with the header `| Variable | Default | Form | Meaning |` lists the variables of the section
 * (heading) it stands under. The prose around the tables is the document's own.
 * `npx tsx src/core/config/docs-tables.ts` rewrites the tables in place; `docs-tables.test.ts`
 * fails when the file is not what this would write.
 */

export const CONFIGURATION_DOC = new URL('../../../docs/configuration.md', import.meta.url);

const HEADER = '| Variable | Default | Form | Meaning |';
const SEPARATOR = '| --- | --- | --- | --- |';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

function tableRow(variable: BootVariable<unknown>): string {
  const cells = [`\`${variable.name}\``, documentedDefault(variable), variable.form, variable.description];
  return `| ${cells.map(cell).join(' | ')} |`;
}

function isHeader(line: string): boolean {
  return (
    line
      .trim()
      .replace(/\s*\|\s*/g, ' | ')
      .trim() === HEADER
  );
}

/** `markdown` with every variable table replaced by the one generated for its section. */
export function renderVariableTables(markdown: string): string {
  const bySection = new Map<string, BootVariable<unknown>[]>();
  for (const variable of Object.values(BOOT_VARIABLES) as BootVariable<unknown>[]) {
    bySection.set(variable.section, [...(bySection.get(variable.section) ?? []), variable]);
  }
  const lines = markdown.split('\n');
  const out: string[] = [];
  const written = new Set<string>();
  let section: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heading = /^#{2,}\s+(.*?)\s*$/.exec(line);
    if (heading) section = heading[1];
    if (!isHeader(line)) {
      out.push(line);
      continue;
    }
    const variables = section === undefined ? undefined : bySection.get(section);
    if (!variables || written.has(section as string)) {
      throw new Error(
        `docs/configuration.md line ${i + 1}: a variable table under "${section ?? '(no heading)'}", which is not a section of BOOT_VARIABLES or has a table already`,
      );
    }
    written.add(section as string);
    out.push(HEADER, SEPARATOR, ...variables.map(tableRow));
    while (lines[i + 1]?.trim().startsWith('|')) i++;
  }
  const missing = [...bySection.keys()].filter((s) => !written.has(s));
  if (missing.length > 0) {
    throw new Error(
      `docs/configuration.md has no variable table under the heading(s): ${missing.join(', ')} (add "${HEADER}" there)`,
    );
  }
  return out.join('\n');
}

if (argv[1] && import.meta.url === pathToFileURL(argv[1]).href) {
  const before = readFileSync(CONFIGURATION_DOC, 'utf8');
  const after = renderVariableTables(before);
  writeFileSync(CONFIGURATION_DOC, after);
  process.stdout.write(
    `${fileURLToPath(CONFIGURATION_DOC)}: ${after === before ? 'already up to date' : 'tables rewritten'}\n`,
  );
}
