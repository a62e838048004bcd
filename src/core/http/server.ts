import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import type { TrustProxy } from '../config/parsers.js';
import { AppError } from '../errors.js';
import { authorize, requiredRole } from './access-policy.js';
import { authenticate, type KeyVerifier, type SessionVerifier } from './auth.js';

export type { KeyVerifier, Principal, RouteAuthenticator, SessionVerifier } from './auth.js';

import { uuidv7 } from '../ids.js';
import type { HealthRegistry, Logger } from '../observability/index.js';
import {
  answerClientError,
  errorBody,
  frameworkError,
  httpErrorFrom,
  requestErrorFrom,
  statusOf,
} from './errors.js';
import {
  drainRequest,
  hasUnreadBody,
  installInputRules,
  isOptionalBody,
  markOptionalBodies,
  OPTIONAL_BODY_KEY,
} from './input.js';

/** The Fastify instance type every feature registers its routes on. */
export type HttpApp = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  ZodTypeProvider
>;

/** Dependencies of the HTTP server. */
export interface HttpServerOptions {
  logger: Logger;
  metrics: Registry;
  health: HealthRegistry;
  bodyLimitBytes: number;
  /** FACTEUR_TRUST_PROXY: who may set X-Forwarded-For/-Proto (`request.ip`, `request.protocol`). */
  trustProxy?: TrustProxy;
  verifyKey: KeyVerifier;
  /** The dashboard's session cookie (access/), tried when a request has no Authorization header. */
  verifySession?: SessionVerifier;
  /** Registers each feature's `/api/*` routes (already behind authentication). */
  registerApiRoutes: (api: HttpApp) => void | Promise<void>;
  /**
   * Registers the few routes people reach without an API key, each authenticating itself (a
   * campaign's signed unsubscribe link `/u/:token`).
   */
  registerPublicRoutes?: (app: HttpApp) => void | Promise<void>;
  /** Package version, shown in OpenAPI and /healthz. */
  version: string;
  /** True while draining: new work is refused with 503. */
  isShuttingDown?: () => boolean;
}

/** A hop count as the function Fastify's types take (the n nearest proxies are believed). */
const fastifyTrust = (trust: TrustProxy) =>
  typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust;

/** Builds the HTTP server: health, metrics, OpenAPI, and the authenticated `/api` scope. */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpApp> {
  const app = Fastify({
    loggerInstance: options.logger.child({ event: 'http.server' }),
    // One log line per request would dominate the logs at thousands of requests per second;
    // errors are logged by the error handler and latency is in the metrics.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    trustProxy: fastifyTrust(options.trustProxy ?? false),
    genReqId: () => uuidv7(),
    // While draining, our own hook answers SHUTTING_DOWN in the API's error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A path that is not valid percent-encoding, or a parameter longer than maxParamLength,
    // answers in the API's error shape (Fastify's own answers echo the whole URL back).
    frameworkErrors: (error, _request, reply) => {
      const appError = frameworkError(error);
      (reply as unknown as FastifyReply).status(statusOf(appError)).send(errorBody(appError));
    },
    // Requests Node's parser cannot read (bad header bytes, oversized headers) never reach a
    // route; they get the same error shape on a connection that is then closed.
    clientErrorHandler: answerClientError,
  }).withTypeProvider<ZodTypeProvider>() as unknown as HttpApp;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: a text/plain body must be refused with 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  installInputRules(app);

  installErrorHandling(app, options);
  await app.register(cookie);
  installRequestMetrics(app, options.metrics);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Facteur API',
        version: options.version,
        description:
          'Durable email automation: transactional sends, webhook endpoints, events and deliveries, jobs and the built-in mail catcher.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from `facteur apikey create`.',
          },
        },
      },
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      if (!isOptionalBody(input.schema?.body)) return out;
      return { ...out, schema: { ...out.schema, [OPTIONAL_BODY_KEY]: true } };
    },
    transformObject: (documents) =>
      'openapiObject' in documents ? markOptionalBodies(documents.openapiObject) : documents.swaggerObject,
  });

  registerOperationalRoutes(app, options);
  if (options.registerPublicRoutes)
    await app.register(async (scope) => options.registerPublicRoutes?.(scope as unknown as HttpApp));

  await app.register(
    async (api) => {
      const scoped = api as unknown as HttpApp;
      scoped.addHook('onRoute', (route) => {
        // Routes without a body cannot answer 413 or 415.
        const { 413: _tooLarge, 415: _mediaType, ...bodiless } = API_ERROR_RESPONSES;
        const errors = ['GET', 'DELETE', 'HEAD'].includes(String(route.method))
          ? bodiless
          : API_ERROR_RESPONSES;
        // Every key is at least a viewer: only routes that need more can answer 403.
        const role = requiredRole(String(route.method), route.url);
        const forbidden =
          role === 'viewer'
            ? {}
            : { 403: errorBodySchema.describe(`AUTH_FORBIDDEN: this route needs the ${role} role or above`) };
        const response = { ...errors, ...forbidden, ...(route.schema?.response as object | undefined) };
        route.schema = { ...route.schema, response, security: [{ bearerAuth: [] }] } as typeof route.schema;
      });
      scoped.addHook('onRequest', async (request) => {
        request.principal = await authenticate(request, options.verifyKey, options.verifySession);
        authorize(request.principal, request.method, request.routeOptions.url ?? '');
        if (options.isShuttingDown?.() && request.method !== 'GET') {
          throw new AppError('SHUTTING_DOWN', 'the server is shutting down and accepts no new work');
        }
      });
      await options.registerApiRoutes(scoped);
    },
    { prefix: '/api' },
  );
  return app;
}

/** The error body every failure answers with. */
const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe('A code from docs/errors.md.'),
      message: z.string(),
      details: z.unknown().describe('For VALIDATION_FAILED: [{in, field, message}] for each bad field.'),
    }),
  })
  .describe('Error');

/** Errors any `/api` route may answer, declared in the OpenAPI document. */
const API_ERROR_RESPONSES = {
  400: errorBodySchema.describe('VALIDATION_FAILED or INVALID_JSON'),
  401: errorBodySchema.describe('AUTH_REQUIRED or AUTH_INVALID'),
  404: errorBodySchema.describe('NOT_FOUND'),
  409: errorBodySchema.describe('IDEMPOTENCY_CONFLICT or JOB_NOT_REPLAYABLE'),
  412: errorBodySchema.describe('VERSION_MISMATCH (a change sent with an If-Match the record moved on from)'),
  413: errorBodySchema.describe('PAYLOAD_TOO_LARGE'),
  415: errorBodySchema.describe('UNSUPPORTED_MEDIA_TYPE'),
  500: errorBodySchema.describe('INTERNAL'),
  503: errorBodySchema.describe('DATABASE_UNAVAILABLE or SHUTTING_DOWN'),
};

function installErrorHandling(app: HttpApp, options: HttpServerOptions): void {
  const { logger } = options;
  const routes = new RouteMethods();
  const registered: Array<{ method: string; url: string; ownCredential: boolean }> = [];
  app.decorate('registeredRoutes', registered);
  app.addHook('onRoute', (route) => {
    routes.add(route.method, route.url);
    const ownCredential = route.config?.routeAuth !== undefined;
    for (const method of [route.method].flat()) registered.push({ method, url: route.url, ownCredential });
  });
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const appError = requestErrorFrom(error, request, options.bodyLimitBytes) ?? httpErrorFrom(error);
    const status = statusOf(appError);
    const context = {
      event: 'http.error',
      reqId: request.id,
      method: request.method,
      route: request.routeOptions.url,
      code: appError.code,
      // Who was answered (the key's id and role), never the key.
      principal: request.principal?.id,
      role: request.principal?.role,
    };
    // Unexpected failures are errors; a database outage is a warning (readiness says so too);
    // draining and client mistakes are routine.
    if (appError.code === 'INTERNAL')
      logger.error({ ...context, err: appError.cause ?? appError }, appError.message);
    else if (appError.code === 'DATABASE_UNAVAILABLE')
      logger.warn({ ...context, err: appError.cause ?? appError }, appError.message);
    else if (appError.code === 'SHUTTING_DOWN' || appError.code === 'AUTH_FORBIDDEN')
      logger.info(context, appError.message);
    else logger.debug(context, appError.message);
    if (status === 401) {
      // RFC 6750: say which scheme to use, and whether the token itself was the problem.
      reply.header(
        'www-authenticate',
        appError.code === 'AUTH_INVALID'
          ? 'Bearer realm="facteur", error="invalid_token"'
          : 'Bearer realm="facteur"',
      );
    }
    if (appError.retryAfterMs !== undefined)
      reply.header('retry-after', Math.ceil(appError.retryAfterMs / 1000));
    // A client still sending its body when the answer is already known (over the limit, wrong
    // type, no key) must read that answer, not a reset: read the rest (bounded) and drop it.
    if (hasUnreadBody(request)) await drainRequest(request.raw, reply);
    return reply.status(status).send(errorBody(appError));
  });
  app.setNotFoundHandler(async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = routes.methodsFor(path);
    const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
    const error =
      allowed.length > 0
        ? new AppError(
            'METHOD_NOT_ALLOWED',
            `${request.method} is not allowed on ${shown}; use ${allowed.join(', ')}`,
            {
              details: { allowed },
            },
          )
        : new AppError('NOT_FOUND', `no route ${request.method} ${shown}`);
    if (allowed.length > 0) reply.header('allow', allowed.join(', '));
    if (hasUnreadBody(request)) await drainRequest(request.raw, reply);
    return reply.status(statusOf(error)).send(errorBody(error));
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
}

/** Which methods each route template takes, to answer 405 with `Allow` for a known path. */
class RouteMethods {
  private readonly templates: Array<{ pattern: RegExp; methods: Set<string> }> = [];

  add(method: string | string[], url: string): void {
    const pattern = new RegExp(
      `^${url
        .split('/')
        .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/')}/?$`,
    );
    let entry = this.templates.find((t) => t.pattern.source === pattern.source);
    if (!entry) {
      entry = { pattern, methods: new Set() };
      this.templates.push(entry);
    }
    for (const m of Array.isArray(method) ? method : [method]) entry.methods.add(m);
  }

  methodsFor(path: string): string[] {
    const methods = new Set<string>();
    for (const { pattern, methods: these } of this.templates) {
      if (pattern.test(path)) for (const m of these) methods.add(m);
    }
    return [...methods].sort();
  }
}

function installRequestMetrics(app: HttpApp, registry: Registry): void {
  const duration = new Histogram({
    name: 'facteur_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
}

const componentSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  critical: z.boolean(),
  message: z.string().optional(),
  lastError: z.object({ message: z.string(), at: z.string() }).nullable().optional(),
  lastSuccessAt: z.string().nullable().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

function registerOperationalRoutes(app: HttpApp, options: HttpServerOptions): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up and serving HTTP.',
        tags: ['operations'],
        response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) },
      },
    },
    async () => ({ status: 'ok' as const, version: options.version }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: each dependency with its state and last error. 503 when a critical one is down.',
        tags: ['operations'],
        response: {
          200: z.object({
            status: z.enum(['ok', 'degraded', 'down']),
            checks: z.record(z.string(), componentSchema),
          }),
          503: z.object({
            status: z.enum(['ok', 'degraded', 'down']),
            checks: z.record(z.string(), componentSchema),
          }),
        },
      },
    },
    async (_request, reply) => {
      const report = await options.health.report();
      const checks = Object.fromEntries(
        Object.entries(report.checks).map(([name, c]) => [
          name,
          {
            ...c,
            lastError: c.lastError
              ? { message: c.lastError.message, at: new Date(c.lastError.at).toISOString() }
              : c.lastError,
            lastSuccessAt:
              typeof c.lastSuccessAt === 'number' ? new Date(c.lastSuccessAt).toISOString() : c.lastSuccessAt,
          },
        ]),
      );
      return reply.status(report.status === 'down' ? 503 : 200).send({ status: report.status, checks });
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics.', tags: ['operations'] } },
    async (_request, reply) => {
      const body = await options.metrics.metrics();
      return reply.type(options.metrics.contentType).send(body);
    },
  );

  app.get(
    '/openapi.json',
    { schema: { summary: 'This OpenAPI document.', tags: ['operations'] } },
    async () => app.swagger(),
  );
}
