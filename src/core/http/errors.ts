import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyRequest } from 'fastify';
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

/** `1 MiB`, `26 MiB`, `512 KiB`: a byte limit as people write it. */
function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * The errors whose message depends on the route that was asked for: a body over that route's
 * limit (which is FACTEUR_HTTP_BODY_LIMIT only where the route does not set its own) and a media
 * type the route does not take. Undefined for everything else.
 */
export function requestErrorFrom(
  error: unknown,
  request: FastifyRequest,
  defaultBodyLimit: number,
): AppError | undefined {
  const code = (error as Partial<FastifyError>).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = request.routeOptions.bodyLimit ?? defaultBodyLimit;
    const which =
      limit === defaultBodyLimit ? 'the limit set by FACTEUR_HTTP_BODY_LIMIT' : "this route's own limit";
    return new AppError(
      'PAYLOAD_TOO_LARGE',
      `the request body is larger than ${formatBytes(limit)} (${which})`,
      { details: { limitBytes: limit } },
    );
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return unsupportedMediaType(request);
  return undefined;
}

/** The media types a route's body may have: its `schema.consumes`, else JSON. */
export function acceptedMediaTypes(request: FastifyRequest): readonly string[] {
  const consumes = (request.routeOptions.schema as { consumes?: readonly string[] } | undefined)?.consumes;
  return consumes && consumes.length > 0 ? consumes : ['application/json'];
}

/** UNSUPPORTED_MEDIA_TYPE naming what the route takes. */
export function unsupportedMediaType(request: FastifyRequest): AppError {
  const sent = String(request.headers['content-type'] ?? 'none').slice(0, 100);
  const accepted = acceptedMediaTypes(request);
  return new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `unsupported Content-Type ${JSON.stringify(sent)}; this route takes ${accepted.join(' or ')}`,
    { details: { contentType: sent, accepted } },
  );
}

/** Fastify's routing errors (before any route is chosen), in the API's vocabulary. */
export function frameworkError(error: FastifyError): AppError {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new AppError(
      'URI_TOO_LONG',
      'a path parameter is longer than 100 characters; no id is that long',
      {
        details: [{ in: 'params', field: '', message: 'is longer than 100 characters' }],
      },
    );
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    return new AppError('VALIDATION_FAILED', 'the URL path is not valid percent-encoded UTF-8', {
      details: [{ in: 'path', field: 'path', message: 'is not valid percent-encoded UTF-8' }],
    });
  }
  return new AppError('VALIDATION_FAILED', 'the request could not be routed', {
    details: [{ in: 'path', field: 'path', message: 'could not be routed' }],
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

/**
 * Fastify's `clientErrorHandler`: a request Node's parser cannot read (bad header bytes,
 * oversized headers) gets the API's error shape on a connection that is then closed.
 */
export function answerClientError(error: Error, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code = (error as { code?: string }).code;
  const appError =
    code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts')
      : new AppError(
          'VALIDATION_FAILED',
          'the request is not valid HTTP/1.1 (malformed request line or headers)',
          {
            details: [{ in: 'headers', field: '', message: 'could not be parsed' }],
          },
        );
  const status = statusOf(appError);
  const body = JSON.stringify(errorBody(appError));
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}
