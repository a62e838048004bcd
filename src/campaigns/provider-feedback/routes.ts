import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.js';
import type { HttpApp } from '../../core/http/server.js';
import { validationError } from '../../core/validation.js';
import { type MailgunBody, mailgunBodySchema, readMailgun, verifyMailgunSignature } from './mailgun.js';
import { checkSignedTimestamp, type FeedbackProvider } from './model.js';
import { checkPostmarkAuth, postmarkBodySchema, readPostmark } from './postmark.js';
import { type FeedbackDeps, FeedbackReceiver, feedbackResponses, sesUnreachable } from './receiver.js';
import { TokenMemory } from './replay.js';
import {
  readSendgrid,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  sendgridBodySchema,
  verifySendgridSignature,
} from './sendgrid.js';
import { SesReceiver } from './ses-route.js';
import { snsBodySchema } from './sns.js';

/**
 * `POST /api/feedback/{postmark,sendgrid,mailgun,ses}`: the providers' bounce, complaint and
 * unsubscribe webhooks. Each route authenticates the request the provider's documented way
 * (`config.routeAuth` for what the headers carry, then the body's signature), reads the body
 * into Feedback and hands it to `apply`. A request with an API key (`Authorization: Bearer`)
 * is the operator's own and skips the provider's check. The routes take mail text: NUL and
 * unpaired surrogates in a provider's strings are replaced, not refused.
 */

const tags = ['feedback'];
const response = feedbackResponses;
const byApiKey = (request: FastifyRequest): boolean => request.principal?.kind === 'api_key';

/** Registers the four routes on the `/api` scope (in their own context: raw body, text/plain JSON). */
export function registerFeedbackRoutes(api: HttpApp, deps: FeedbackDeps): void {
  void api.register(async (instance) => {
    const scope = instance as unknown as HttpApp;
    const receiver = new FeedbackReceiver(deps);
    // SNS posts its JSON as text/plain; only the SES route declares it (others answer 415).
    scope.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, text, done) => {
      try {
        done(null, parseJsonText(text as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    registerPostmark(scope, receiver);
    registerSendgrid(scope, receiver);
    registerMailgun(scope, receiver, new TokenMemory());
    registerSes(scope, receiver);
  });
}

/** A routeAuth that only requires the provider to be configured; its signature is in the body. */
function configured(receiver: FeedbackReceiver, provider: 'mailgun' | 'ses') {
  const key = provider === 'mailgun' ? receiver.deps.config.mailgun : receiver.deps.config.ses;
  return async () => {
    if (!key) throw receiver.notConfigured(provider);
    return receiver.principal(provider);
  };
}

function registerPostmark(scope: HttpApp, receiver: FeedbackReceiver): void {
  const routeAuth = async (request: FastifyRequest) => {
    const expected = receiver.deps.config.postmark;
    if (!expected) throw receiver.notConfigured('postmark');
    const check = checkPostmarkAuth(request.headers.authorization, expected);
    if (check === 'missing')
      receiver.refuse(
        'postmark',
        'FEEDBACK_SIGNATURE_INVALID',
        'no Basic credentials; put those of FACTEUR_FEEDBACK_POSTMARK_AUTH in the webhook URL (https://user:password@host/api/feedback/postmark)',
      );
    if (check === 'wrong')
      receiver.refuse(
        'postmark',
        'FEEDBACK_SIGNATURE_INVALID',
        'the Basic credentials are not those of FACTEUR_FEEDBACK_POSTMARK_AUTH',
      );
    return receiver.principal('postmark');
  };
  scope.post(
    '/feedback/postmark',
    {
      config: { routeAuth, mailText: true, workLedger: true },
      schema: {
        summary:
          "Takes Postmark's bounce, spam-complaint and subscription-change webhooks (HTTP Basic credentials).",
        description:
          'Postmark signs nothing: give its webhook the URL with the credentials of FACTEUR_FEEDBACK_POSTMARK_AUTH, `https://user:password@host/api/feedback/postmark`. One record per request.',
        tags,
        body: postmarkBodySchema,
        response,
      },
    },
    async (request) => receiver.settle('postmark', readPostmark(request.body)),
  );
}

/** The raw bytes of each SendGrid request, captured before parsing (the signature covers them). */
const RAW_BODIES = new WeakMap<IncomingMessage, Buffer[]>();

function registerSendgrid(scope: HttpApp, receiver: FeedbackReceiver): void {
  const routeAuth = async (request: FastifyRequest) => {
    if (!receiver.deps.config.sendgrid) throw receiver.notConfigured('sendgrid');
    if (!request.headers[SENDGRID_SIGNATURE_HEADER] || !request.headers[SENDGRID_TIMESTAMP_HEADER])
      receiver.refuse(
        'sendgrid',
        'FEEDBACK_SIGNATURE_INVALID',
        'no X-Twilio-Email-Event-Webhook-Signature and -Timestamp headers; turn on "Signed Event Webhook Requests" in SendGrid',
      );
    return receiver.principal('sendgrid');
  };
  scope.post(
    '/feedback/sendgrid',
    {
      config: { routeAuth, mailText: true, workLedger: true },
      preParsing: async (request, _reply, payload) => {
        const chunks: Buffer[] = [];
        RAW_BODIES.set(request.raw, chunks);
        const tee = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            chunks.push(chunk);
            callback(null, chunk);
          },
        });
        payload.on('error', (error) => tee.destroy(error));
        return payload.pipe(tee);
      },
      schema: {
        summary: "Takes SendGrid's Event Webhook (Signed Event Webhook: ECDSA over timestamp and raw body).",
        description:
          'Turn on "Signed Event Webhook Requests" and set FACTEUR_FEEDBACK_SENDGRID_KEY to its verification key. Bounces, drops, spam reports and unsubscribes are applied; other events are ignored.',
        tags,
        body: sendgridBodySchema,
        response,
      },
    },
    async (request) => {
      if (!byApiKey(request)) checkSendgrid(receiver, request);
      return receiver.settle('sendgrid', readSendgrid(request.body));
    },
  );
}

function checkSendgrid(receiver: FeedbackReceiver, request: FastifyRequest): void {
  const { config, clock } = receiver.deps;
  const signature = String(request.headers[SENDGRID_SIGNATURE_HEADER] ?? '');
  const timestamp = String(request.headers[SENDGRID_TIMESTAMP_HEADER] ?? '');
  const rawBody = Buffer.concat(RAW_BODIES.get(request.raw) ?? []);
  const publicKeyPem = config.sendgrid?.publicKeyPem ?? '';
  if (!verifySendgridSignature({ publicKeyPem, signature, timestamp, rawBody }))
    receiver.refuse(
      'sendgrid',
      'FEEDBACK_SIGNATURE_INVALID',
      'the signature does not verify with FACTEUR_FEEDBACK_SENDGRID_KEY (another key, or a body changed on the way)',
    );
  refuseStale(receiver, 'sendgrid', checkSignedTimestamp(timestamp, clock.now(), config.maxAgeMs));
}

function refuseStale(
  receiver: FeedbackReceiver,
  provider: FeedbackProvider,
  check: ReturnType<typeof checkSignedTimestamp>,
): void {
  if (check === 'malformed')
    receiver.refuse(provider, 'FEEDBACK_SIGNATURE_INVALID', 'the signed timestamp is not epoch seconds');
  if (check === 'stale')
    receiver.refuse(
      provider,
      'FEEDBACK_REPLAYED',
      "the signed timestamp is further from the server's clock than FACTEUR_FEEDBACK_MAX_AGE",
    );
}

function registerMailgun(scope: HttpApp, receiver: FeedbackReceiver, tokens: TokenMemory): void {
  scope.post(
    '/feedback/mailgun',
    {
      config: { routeAuth: configured(receiver, 'mailgun'), mailText: true, workLedger: true },
      schema: {
        summary:
          "Takes Mailgun's webhooks (HMAC signature of timestamp and token; old timestamps and replayed tokens refused).",
        description:
          'Point the failed (permanent and temporary), complained and unsubscribed webhooks here and set FACTEUR_FEEDBACK_MAILGUN_KEY to the HTTP webhook signing key.',
        tags,
        body: mailgunBodySchema,
        response,
      },
    },
    async (request) => {
      const token = byApiKey(request) ? undefined : checkMailgun(receiver, tokens, request.body);
      try {
        return await receiver.settle('mailgun', readMailgun(request.body));
      } catch (error) {
        // Not applied: Mailgun sends it again with the same token, which must then pass.
        if (token !== undefined) tokens.release(token);
        throw error;
      }
    },
  );
}

/** Checks a Mailgun request's signature, timestamp and token; answers the token it took. */
function checkMailgun(receiver: FeedbackReceiver, tokens: TokenMemory, body: MailgunBody): string {
  const { config, clock } = receiver.deps;
  const signature = body.signature;
  if (!signature)
    receiver.refuse(
      'mailgun',
      'FEEDBACK_SIGNATURE_INVALID',
      'the body has no `signature` (timestamp, token, signature)',
    );
  if (!verifyMailgunSignature(signature, config.mailgun?.signingKey ?? ''))
    receiver.refuse(
      'mailgun',
      'FEEDBACK_SIGNATURE_INVALID',
      'the signature does not verify with FACTEUR_FEEDBACK_MAILGUN_KEY',
    );
  const now = clock.now();
  refuseStale(receiver, 'mailgun', checkSignedTimestamp(signature.timestamp, now, config.maxAgeMs));
  const forgetAt = Number(signature.timestamp) * 1000 + config.maxAgeMs;
  if (!tokens.reserve(signature.token, forgetAt, now))
    receiver.refuse('mailgun', 'FEEDBACK_REPLAYED', 'this token was already taken (a replayed request)');
  return signature.token;
}

function registerSes(scope: HttpApp, receiver: FeedbackReceiver): void {
  const ses = new SesReceiver(receiver);
  scope.addHook('onClose', async () => ses.close());
  scope.post(
    '/feedback/ses',
    {
      config: { routeAuth: configured(receiver, 'ses'), mailText: true, workLedger: true },
      schema: {
        summary: 'Takes SES bounce and complaint notifications through an SNS subscription (signed by SNS).',
        description:
          "Subscribe this URL (https) to the SNS topics of FACTEUR_FEEDBACK_SES_TOPICS. Each message's SNS signature is checked with the certificate at SigningCertURL (fetched from an SNS host only, through the SSRF guard, and cached); a SubscriptionConfirmation is confirmed by GETting its SubscribeURL.",
        tags,
        consumes: ['application/json', 'text/plain'],
        body: snsBodySchema,
        response: { ...response, 502: sesUnreachable },
      },
    },
    async (request) => ses.handle(request.body, byApiKey(request)),
  );
}

/** JSON sent as text/plain (SNS), with the JSON edge's rules: INVALID_JSON, prototype keys refused. */
function parseJsonText(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text, (key, value) => {
      const prototypeKey =
        key === '__proto__' ||
        (key === 'constructor' &&
          typeof value === 'object' &&
          value !== null &&
          Object.hasOwn(value, 'prototype'));
      if (prototypeKey)
        throw validationError('body', [
          {
            in: 'body',
            field: key,
            message: 'is not allowed: `__proto__` and `constructor.prototype` keys are refused',
          },
        ]);
      return value;
    });
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('INVALID_JSON', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}
