import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { errorCodes, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { describeForbiddenChar, findForbiddenChar } from '../text.js';
import { type FieldError, fieldPath, validationError } from '../validation.js';
import { acceptedMediaTypes, unsupportedMediaType } from './errors.js';
import type { HttpApp } from './server.js';

/**
 * The HTTP edge's rules for what comes in, before any route sees it:
 *
 * - JSON bodies are parsed by one parser: an empty body is "no body" (so a route whose body is
 *   optional accepts a bare POST), a `__proto__` or `constructor.prototype` key is refused as a
 *   named field (it is valid JSON, just not allowed), and anything else malformed is INVALID_JSON.
 *   Its text is decoded as the body arrives, never held as chunks and a concatenated copy too.
 * - Text from outside (body strings and keys, query strings, path parameters) may not hold NUL or
 *   unpaired surrogates: PostgreSQL cannot store NUL in text, and SQLite would keep both and send
 *   them on over SMTP, so both databases refuse the same input here with a 400 naming the field.
 *   Routes that carry parsed mail (the Apps Script push) opt out with `config: { mailText: true }`
 *   and replace such characters themselves, recording that they did.
 * - A route that takes something other than JSON declares it in `schema.consumes`; other media
 *   types get 415 naming what the route takes.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body carries text taken from a mail: NUL and unpaired surrogates are replaced by the
     * handler (and recorded) instead of refused at the edge. */
    mailText?: boolean;
  }
}

// Forbidden characters and prototype keys can only reach a parsed JSON value through a `\u`
// escape or the literal key names: raw control characters are not valid JSON, and the UTF-8
// decoder turns broken bytes into U+FFFD, never into a lone surrogate. Bodies without any of
// these (nearly all of them) are not walked.
const NEEDS_WALK = /\\u|__proto__|constructor/;

/** Installs the JSON parser, the text rule for query and path, and the media-type check. */
export function installInputRules(app: HttpApp): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (request, payload, done) => {
    readBodyText(request, payload, (error, body) => {
      if (error || body === undefined) return done(error, undefined);
      if (body.length === 0) return done(null, undefined);
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch (parseError) {
        return done(
          new AppError(
            'INVALID_JSON',
            `the request body is not valid JSON: ${(parseError as Error).message}`,
          ),
          undefined,
        );
      }
      if (NEEDS_WALK.test(body)) {
        const problems: FieldError[] = [];
        walkJson(value, [], !request.routeOptions.config.mailText, problems);
        if (problems.length > 0) return done(validationError('body', problems), undefined);
      }
      done(null, value);
    });
  });

  app.addHook('preValidation', async (request) => {
    const problems: FieldError[] = [];
    textProblems(request.params, 'params', problems);
    textProblems(request.query, 'querystring', problems);
    if (problems.length > 0) throw validationError(problems[0]?.in ?? 'params', problems);
  });

  app.addHook('preParsing', async (request) => {
    if (request.headers['content-type'] === undefined || !hasUnreadBody(request)) return;
    const type = String(request.headers['content-type']).split(';')[0]?.trim().toLowerCase() ?? '';
    if (!acceptedMediaTypes(request).includes(type)) throw unsupportedMediaType(request);
  });
}

/**
 * A body's text, decoded chunk by chunk as it arrives, under the route's byte limit and with the
 * Content-Length check of Fastify's own reader (and its errors, which the error handler maps).
 * Fastify's `parseAs: 'string'` keeps every chunk to the end, then concatenates them and decodes
 * the copy: a 10 MB campaign body was 20 MB of buffers beside its 10 MB string, and the chunks,
 * held that long, were freed only by a later collection (B8). Here each chunk is dropped once
 * decoded; a character split between two chunks is joined by the decoder.
 */
function readBodyText(
  request: FastifyRequest,
  payload: Readable,
  done: (error: Error | null, text?: string) => void,
): void {
  const limit = request.routeOptions.bodyLimit;
  const declared = Number(request.headers['content-length']);
  if (declared > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  const decoder = new StringDecoder('utf8');
  const pieces: string[] = [];
  let received = 0;
  const encodedLength = () => (payload as { receivedEncodedLength?: number }).receivedEncodedLength ?? 0;
  const finish = (error: Error | null, text?: string): void => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, text);
  };
  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    received += bytes.length;
    if (received > limit || encodedLength() > limit) finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    else pieces.push(decoder.write(bytes));
  };
  const onEnd = (): void => {
    if (!Number.isNaN(declared) && (encodedLength() || received) !== declared) {
      finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      return;
    }
    pieces.push(decoder.end());
    const text = pieces.join('');
    pieces.length = 0;
    finish(null, text);
  };
  const onError = (error: Error & { statusCode?: number }): void => {
    if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
    finish(error);
  };
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.resume();
}

function walkJson(value: unknown, path: PropertyKey[], checkText: boolean, out: FieldError[]): void {
  if (out.length >= 20) return;
  if (typeof value === 'string') {
    if (checkText) textProblem(value, path, 'body', out);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      walkJson(item, [...path, index], checkText, out);
    });
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const at = [...path, key];
    if (key === '__proto__' || (key === 'constructor' && isObjectWithPrototype(child))) {
      out.push({
        in: 'body',
        field: fieldPath(at),
        message: 'is not allowed: `__proto__` and `constructor.prototype` keys are refused',
      });
      continue;
    }
    if (checkText && findForbiddenChar(key) !== -1) {
      out.push({ in: 'body', field: fieldPath(path), message: `has a key that ${forbiddenMessage(key)}` });
      continue;
    }
    walkJson(child, at, checkText, out);
  }
}

function isObjectWithPrototype(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype');
}

function textProblems(values: unknown, location: string, out: FieldError[]): void {
  if (values === null || typeof values !== 'object') return;
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === 'string') textProblem(value, [key], location, out);
    else if (Array.isArray(value))
      value.forEach((item, index) => {
        if (typeof item === 'string') textProblem(item, [key, index], location, out);
      });
  }
}

function textProblem(value: string, path: PropertyKey[], location: string, out: FieldError[]): void {
  if (findForbiddenChar(value) === -1) return;
  out.push({ in: location, field: fieldPath(path), message: forbiddenMessage(value) });
}

function forbiddenMessage(value: string): string {
  const at = findForbiddenChar(value);
  return `contains ${describeForbiddenChar(value, at)} at position ${at}; text may not contain NUL or unpaired surrogates`;
}

/**
 * The body schema of a route whose body may be left out: a bare POST (no body, or an empty
 * one) is read as `{}`, so the schema's defaults apply. Fastify hands "no body" to validation
 * as null.
 */
export function optionalBody<T extends z.ZodType>(schema: T) {
  const body = z.preprocess((value) => value ?? {}, schema);
  OPTIONAL_BODIES.add(body);
  return body;
}

/** Bodies made by `optionalBody`, so the OpenAPI document can say they may be left out. */
const OPTIONAL_BODIES = new WeakSet<object>();

/** Whether a route's body schema came from `optionalBody`. */
export function isOptionalBody(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && OPTIONAL_BODIES.has(schema);
}

/** The route-schema key that carries "the body may be left out" to the OpenAPI document. */
export const OPTIONAL_BODY_KEY = 'x-facteur-optional-body';

/**
 * Marks the request bodies of operations flagged with OPTIONAL_BODY_KEY as not required (the
 * OpenAPI generator marks every declared body required) and drops the flag.
 */
export function markOptionalBodies<T extends { paths?: Record<string, unknown> }>(document: T): T {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations as Record<string, Record<string, unknown>>)) {
      if (typeof operation !== 'object' || operation === null || !(OPTIONAL_BODY_KEY in operation)) continue;
      delete operation[OPTIONAL_BODY_KEY];
      const body = operation.requestBody as { required?: boolean } | undefined;
      if (body) body.required = false;
    }
  }
  return document;
}

/** Whether the request has a body nobody has read yet. */
export function hasUnreadBody(request: FastifyRequest): boolean {
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return false;
  const length = Number(raw.headers['content-length'] ?? 0);
  return length > 0 || raw.headers['transfer-encoding'] !== undefined;
}

// --- over-limit bodies ---------------------------------------------------------------------

/** The most an over-limit body is read (and thrown away) so that its sender sees the 413. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
const DRAIN_MAX_MS = 10_000;

/**
 * Reads what is left of a request body and discards it, up to a bound, so that the answer
 * (413) reaches a client that is still writing instead of a reset. Resolves when the body
 * ended, or when the bound is reached (the connection is then closed after the answer).
 */
export function drainRequest(raw: IncomingMessage, reply: FastifyReply): Promise<void> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const finish = () => {
      clearTimeout(timer);
      raw.removeListener('data', onData);
      raw.removeListener('end', finish);
      raw.removeListener('error', finish);
      raw.removeListener('close', finish);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_MAX_BYTES) {
        reply.header('connection', 'close');
        finish();
      }
    };
    const timer = setTimeout(() => {
      reply.header('connection', 'close');
      finish();
    }, DRAIN_MAX_MS);
    timer.unref();
    raw.on('data', onData);
    raw.once('end', finish);
    raw.once('error', finish);
    raw.once('close', finish);
    raw.resume();
  });
}

/**
 * The idempotency key of a request that takes it both as an `Idempotency-Key` header and as an
 * `idempotencyKey` body field: either, or both when they agree.
 */
export function idempotencyKeyOf(header: string | undefined, field: string | undefined): string | undefined {
  if (header !== undefined && field !== undefined && header !== field) {
    throw new AppError(
      'VALIDATION_FAILED',
      'the Idempotency-Key header and the idempotencyKey field differ',
      {
        details: [
          { in: 'body', field: 'idempotencyKey', message: 'differs from the Idempotency-Key header' },
        ],
      },
    );
  }
  return header ?? field;
}
