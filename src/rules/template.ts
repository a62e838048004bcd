import { Liquid, type Template } from 'liquidjs';
import { AppError } from '../core/errors.js';

/**
 * User-written webhook payloads, as Liquid templates that must render to a JSON object.
 * Templates are written by users and run on every matching message, so the engine can read
 * nothing but the context given (no file system, no prototype properties) and is bounded in
 * size, time and memory.
 */

/** Longest template accepted (characters). */
export const MAX_TEMPLATE_LENGTH = 65_536;

const engine = new Liquid({
  // An empty in-memory template map: `include`, `render` and `layout` resolve there and find
  // nothing, so a template can never read a file of the server.
  templates: {},
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: MAX_TEMPLATE_LENGTH,
  // Milliseconds per render: a `for` over a large range stops here instead of stalling intake.
  renderLimit: 200,
  // Roughly characters of strings and arrays created while rendering.
  memoryLimit: 10_000_000,
});

/** Parsed templates by source; rules are few, so 200 covers every live template. */
const CACHE_SIZE = 200;
const parsed = new Map<string, Template[]>();

function parse(template: string): Template[] {
  const hit = parsed.get(template);
  if (hit) {
    parsed.delete(template);
    parsed.set(template, hit);
    return hit;
  }
  if (template.length > MAX_TEMPLATE_LENGTH) {
    throw new Error(`is longer than ${MAX_TEMPLATE_LENGTH} characters`);
  }
  const result = engine.parse(template);
  parsed.set(template, result);
  if (parsed.size > CACHE_SIZE) parsed.delete(parsed.keys().next().value as string);
  return result;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Null when `template` parses as Liquid (checked on write); otherwise the parse error. */
export function templateProblem(template: string): string | null {
  try {
    parse(template);
    return null;
  } catch (error) {
    return `is not a valid Liquid template: ${messageOf(error)}`;
  }
}

/**
 * Renders `template` with `context` and parses the output as a JSON object. Throws
 * RULE_TEMPLATE_FAILED when it does not parse, fails to render, or is not a JSON object.
 * The message never quotes the output: it may hold the email's content, which stays out of logs.
 */
export function renderTemplate(template: string, context: Record<string, unknown>): Record<string, unknown> {
  let output: string;
  try {
    output = engine.renderSync(parse(template), context) as string;
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
