import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { AppError } from '../errors.js';
import { parseBootConfig } from './boot.js';
import type { BootConfig, ConfigProblem, ParseOptions } from './types.js';

export { parseBootConfig } from './boot.js';
export { parseDuration } from './parsers.js';
export { parseSmtpUrl, redactUrl, type SmtpServerConfig } from './smtp-url.js';
export {
  type ProviderKind,
  type ProviderTransportConfig,
  parseTransportList,
  redactTransportList,
  type SmtpTransportConfig,
  type TransportConfig,
} from './transport-url.js';
export type { BootConfig, ConfigProblem, DatabaseConfig } from './types.js';
export { VARIABLES, type VariableSpec } from './variables.js';

/**
 * The process environment merged over `<cwd>/.env` when that file exists. Variables already
 * set in the environment win, so deployment settings are never overridden by a stray file.
 */
export function readEnvironment(
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string | undefined> {
  const file = join(cwd, '.env');
  if (!existsSync(file)) return { ...env };
  let fromFile: Record<string, string>;
  try {
    fromFile = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `cannot read ${file}: ${(error as Error).message}`, {
      details: [{ variable: '.env', message: (error as Error).message }],
    });
  }
  return { ...fromFile, ...env };
}

/** Reads and parses the boot configuration; throws CONFIG_INVALID listing every problem. */
export function loadBootConfig(
  env: Record<string, string | undefined> = readEnvironment(),
  options: ParseOptions = {},
): { config: BootConfig; warnings: ConfigProblem[] } {
  const result = parseBootConfig(env, options);
  if (!result.ok) {
    const lines = result.problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n');
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n${lines}`, { details: result.problems });
  }
  return { config: result.config, warnings: result.warnings };
}
