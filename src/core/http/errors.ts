import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { classifyDatabaseError } from '../db/index.js';
import { AppError, ERROR_CODES } from '../errors.js';
import { fieldErrorsFromIssue, validationError } from '../validation.js';

/**
 * Maps anything thrown while handling a request to the one error shape of the API:
 * `{ "error": { "code", "message", "details" } }` with the status from the code registry.
 */

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

/** Converts a thrown value into an AppError suitable for an HTTP answer. */
export function httpErrorFrom(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const location = (error as { validationContext?: string }).validationContext ?? 'body';
    return validationError(
      location,
      error.validation.flatMap((issue) =>
        fieldErrorsFromIssue(
          {
            path: String(issue.instancePath)
              .split('/')
              .filter((part: string) => part !== ''),
            code: String(issue.keyword),
            message: issue.message ?? 'is invalid',
            keys: (issue.params as { keys?: string[] } | undefined)?.keys,
          },
          location,
        ),
      ),
    );
  }
  const fastifyError = error as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('INVALID_JSON', `the request body is not valid JSON: ${fastifyError.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(
        'PAYLOAD_TOO_LARGE',
        'the request body is larger than the limit (FACTEUR_HTTP_BODY_LIMIT)',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type; send application/json`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('VALIDATION_FAILED', 'the Content-Length header does not match the body');
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new AppError('INVALID_JSON', `the request body is not valid JSON: ${error.message}`);
  }
  const unavailable = classifyDatabaseError(error);
  if (unavailable) return unavailable;
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return new AppError('VALIDATION_FAILED', fastifyError.message ?? 'bad request', { cause: error });
  }
  return new AppError('INTERNAL', 'internal error; the server log has the cause (look for this request id)', {
    cause: error,
  });
}

/** The JSON body for an AppError. */
export function errorBody(error: AppError): ErrorBody {
  return { error: { code: error.code, message: error.message, details: error.details ?? null } };
}

/** Status for an AppError (from the registry). */
export function statusOf(error: AppError): number {
  return ERROR_CODES[error.code].status;
}
