import { type FieldError, validationError } from '../validation.js';

/** Throws VALIDATION_FAILED for problems that span fields, each named. */
export function throwProblems(problems: Array<{ field: string; message: string }>, location: string): void {
  if (problems.length === 0) return;
  throw validationError(
    location,
    problems.map((p): FieldError => ({ in: location, ...p })),
  );
}
