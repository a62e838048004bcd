import { Liquid, type Template } from 'liquidjs';

/**
 * The one Liquid engine for user-written templates (webhook payloads, report subjects and
 * bodies, campaigns next). Templates are written by users, so the engine reads nothing but the
 * context given (no file system, no prototype properties) and is bounded in size, time and
 * memory. Parsed templates are cached by source.
 */

/** Longest template accepted (characters). */
export const MAX_TEMPLATE_LENGTH = 65_536;

export const liquidEngine = new Liquid({
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

export function parseLiquid(template: string): Template[] {
  const hit = parsed.get(template);
  if (hit) {
    parsed.delete(template);
    parsed.set(template, hit);
    return hit;
  }
  if (template.length > MAX_TEMPLATE_LENGTH) {
    throw new Error(`is longer than ${MAX_TEMPLATE_LENGTH} characters`);
  }
  const result = liquidEngine.parse(template);
  parsed.set(template, result);
  if (parsed.size > CACHE_SIZE) parsed.delete(parsed.keys().next().value as string);
  return result;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Null when `template` parses as Liquid (checked on write); otherwise the parse error. */
export function templateProblem(template: string): string | null {
  try {
    parseLiquid(template);
    return null;
  } catch (error) {
    return `is not a valid Liquid template: ${messageOf(error)}`;
  }
}

/** Renders `template` with `context` to text; throws the engine's error (the caller names the field). */
export function renderLiquid(template: string, context: Record<string, unknown>): string {
  return liquidEngine.renderSync(parseLiquid(template), context) as string;
}
