import type { z } from 'zod';
import { AppError } from './errors.js';

/** Shared formatting of validation problems, so the API and the CLI name bad fields the same way. */

/** One bad field. */
export interface FieldError {
  /** Where the field is: body, querystring, params, headers, argument, file. */
  in: string;
  /** Path to the field, e.g. `to[0]` or `headers.X-Campaign`. */
  field: string;
  message: string;
}

/** `['to', 0, 'address']` -> `to[0].address`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, part) => {
    const text = String(part);
    if (typeof part === 'number' || /^\d+$/.test(text)) return `${out}[${text}]`;
    return out ? `${out}.${text}` : text;
  }, '');
}

/** Makes zod's messages read as a sentence about the field. */
export function humanMessage(message: string): string {
  if (/received undefined$/.test(message)) return 'is required';
  return message.replace(/^Invalid input: /, '');
}

/** The parts of a zod issue that say which field is wrong. */
export interface IssueLike {
  path: ReadonlyArray<PropertyKey>;
  code?: string;
  message: string;
  /** For unrecognized_keys: the unknown field names. */
  keys?: readonly string[];
}

/** One field error per issue, and one per unknown key (named, so a typo like `tO` is obvious). */
export function fieldErrorsFromIssue(issue: IssueLike, location: string): FieldError[] {
  if (issue.code === 'unrecognized_keys' && issue.keys && issue.keys.length > 0) {
    return issue.keys.map((key) => ({
      in: location,
      field: fieldPath([...issue.path, key]),
      message: 'is not a known field',
    }));
  }
  return [{ in: location, field: fieldPath(issue.path), message: humanMessage(issue.message) }];
}

/** Builds the VALIDATION_FAILED error for a list of field errors. */
export function validationError(location: string, details: FieldError[]): AppError {
  const summary = details.map((d) => `${d.field || location}: ${d.message}`).join('; ');
  return new AppError('VALIDATION_FAILED', `invalid ${location}: ${summary}`, { details });
}

/** Parses `value` with `schema` or throws VALIDATION_FAILED naming each bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, location: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationError(
    location,
    result.error.issues.flatMap((issue) => fieldErrorsFromIssue(issue as IssueLike, location)),
  );
}
