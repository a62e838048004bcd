import { AppError } from '../core/errors.js';
import { messageOf, renderLiquid } from '../core/liquid.js';

export { MAX_TEMPLATE_LENGTH, templateProblem } from '../core/liquid.js';

/**
 * User-written webhook payloads, as Liquid templates that must render to a JSON object.
 * Templates are written by users and run on every matching message, so the engine can read
 * nothing but the context given (no file system, no prototype properties) and is bounded in
 * size, time and memory.
 */

/**
 * Renders `template` with `context` and parses the output as a JSON object. Throws
 * RULE_TEMPLATE_FAILED when it does not parse, fails to render, or is not a JSON object.
 * The message never quotes the output: it may hold the email's content, which stays out of logs.
 */
export function renderTemplate(template: string, context: Record<string, unknown>): Record<string, unknown> {
  let output: string;
  try {
    output = renderLiquid(template, context);
  } catch (error) {
    throw new AppError('RULE_TEMPLATE_FAILED', `the payload template failed to render: ${messageOf(error)}`, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(output);
  } catch {
    // JSON.parse's message quotes the text, which may be the email's: only the length is told.
    throw new AppError(
      'RULE_TEMPLATE_FAILED',
      `the payload template rendered ${output.length} characters that are not valid JSON; write strings with | json`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError(
      'RULE_TEMPLATE_FAILED',
      `the payload template rendered ${Array.isArray(value) ? 'an array' : String(value === null ? 'null' : typeof value)}, not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}
