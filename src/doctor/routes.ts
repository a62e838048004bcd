import { z } from 'zod';
import { optionalBody } from '../core/http/input.js';
import type { HttpApp } from '../core/http/server.js';
import { type DoctorDeps, doctorImap, doctorSmtp, doctorTransport, doctorWebhook } from './service.js';

/** `/api/doctor/*`: connection diagnostics that name the failing stage, with a hint. */

const stageSchema = z.object({
  stage: z
    .string()
    .describe(
      'dns, ssrf, tcp, tls, greeting, ehlo, auth, send, timeouts, capability, login, select, request.',
    ),
  outcome: z.enum(['ok', 'failed', 'skipped', 'warning']),
  ms: z.number().describe('How long the stage took.'),
  detail: z
    .record(z.string(), z.unknown())
    .describe('What the stage found: addresses, banner, capabilities, certificate, ...'),
  errorCode: z.string().optional().describe('The error code of a failed stage (docs/errors.md).'),
  message: z.string().optional(),
  hint: z.string().optional().describe('What to do about it.'),
});

const reportSchema = z.object({
  check: z.enum(['smtp', 'imap', 'webhook', 'provider']),
  target: z.string().describe('What was checked, without credentials (for a provider: its API base).'),
  transport: z
    .string()
    .optional()
    .describe('The name of the transport checked (as in /readyz), for a check of a configured transport.'),
  ok: z.boolean().describe('False when a stage failed; the answer is still 200.'),
  stages: z.array(stageSchema),
  watchers: z
    .array(z.record(z.string(), z.unknown()))
    .optional()
    .describe("The mailbox's watchers as this instance runs them (imap only)."),
});

const smtpBody = optionalBody(
  z
    .strictObject({
      url: z
        .string()
        .min(1)
        .max(2048)
        .optional()
        .describe(
          'Another relay than the configured one, in the form of FACTEUR_SMTP_URL; its addresses go through the SSRF guard.',
        ),
      sendTo: z
        .string()
        .min(3)
        .max(254)
        .optional()
        .describe('Also send a real test message to this address.'),
    })
    .meta({
      examples: [
        { url: 'smtp://127.0.0.1:1025?starttls=off', sendTo: 'ada@example.com' },
        { url: 'smtps://ada%40example.com:app-password@smtp.example.com:465' },
        {},
      ],
    }),
);

const imapBody = z
  .strictObject({ mailbox: z.string().min(1).max(200).describe('The mailbox name or id.') })
  .meta({ examples: [{ mailbox: 'support inbox' }] });

const webhookBody = z
  .strictObject({ endpoint: z.string().min(1).max(200).describe('The endpoint name or id.') })
  .meta({ examples: [{ endpoint: 'orders' }] });

const transportBody = z
  .strictObject({
    transport: z
      .string()
      .min(1)
      .max(200)
      .describe('The transport name as in /readyz (`smtp`, `postmark`, `sendgrid-2`, `catcher`).'),
  })
  .meta({ examples: [{ transport: 'postmark' }, { transport: 'smtp' }] });

const tags = ['doctor'];

/** Registers the doctor routes (under the API's `/api` prefix and key). */
export function registerDoctorRoutes(app: HttpApp, deps: DoctorDeps): void {
  app.post(
    '/doctor/smtp',
    {
      schema: {
        summary:
          'Checks the SMTP relay stage by stage: dns, tcp, tls, greeting, ehlo, auth, and with sendTo a real send.',
        description:
          'Without a body, checks the first SMTP transport of FACTEUR_TRANSPORTS (FACTEUR_SMTP_URL, or the built-in catcher when none is configured); when the list holds only provider transports, that is a 400 naming them (check those with `POST /api/doctor/transport`). A failed check is still 200 with `ok: false`; the failed stage has an `errorCode`, a `message` and a `hint`. Passwords are never returned.',
        tags,
        body: smtpBody,
        response: { 200: reportSchema },
      },
    },
    async (request) =>
      doctorSmtp(deps, {
        ...(request.body.url !== undefined ? { url: request.body.url } : {}),
        ...(request.body.sendTo !== undefined ? { sendTo: request.body.sendTo } : {}),
        guarded: true,
      }),
  );

  app.post(
    '/doctor/transport',
    {
      schema: {
        summary:
          'Checks a transport of FACTEUR_TRANSPORTS by name: a provider API (dns, tcp, tls, auth) or an SMTP relay (the smtp check).',
        description:
          "For a provider, `auth` is the transport's own verify request (Postmark `GET /server`, SendGrid `GET /v3/scopes`, Mailgun `GET /v3/domains/DOMAIN`, SES `GET /v2/email/account`): nothing is sent. An unknown name is 404; a failed check is 200 with `ok: false`. Keys are never returned.",
        tags,
        body: transportBody,
        response: { 200: reportSchema },
      },
    },
    async (request) => doctorTransport(deps, request.body.transport),
  );

  app.post(
    '/doctor/imap',
    {
      schema: {
        summary: 'Checks a mailbox stage by stage: dns, ssrf, tcp, tls, greeting, capability, login, select.',
        description:
          "Also returns the mailbox's watchers as this instance runs them. An unknown mailbox is 404; a failed check is 200 with `ok: false`.",
        tags,
        body: imapBody,
        response: { 200: reportSchema },
      },
    },
    async (request) => doctorImap(deps, request.body.mailbox),
  );

  app.post(
    '/doctor/webhook',
    {
      schema: {
        summary: 'Checks a webhook endpoint stage by stage: dns, ssrf, tcp, tls, then a signed test request.',
        description:
          "The request stage sends the same signed test event as `POST /api/endpoints/{id}/test` and reports the receiver's status, time and the start of its answer.",
        tags,
        body: webhookBody,
        response: { 200: reportSchema },
      },
    },
    async (request) => doctorWebhook(deps, request.body.endpoint),
  );
}
