import { createPublicKey } from 'node:crypto';
import { ParseProblem, parseDuration } from './parsers.js';
import { variable } from './variable-kit.js';

/**
 * The boot variables of the providers' bounce and complaint webhooks
 * (`POST /api/feedback/{postmark,sendgrid,mailgun,ses}`): each provider's credential or key, the
 * SNS topics whose SES notifications are taken, and the replay window. Spread into
 * `BOOT_VARIABLES`; `feedbackConfig` assembles them into `BootConfig.feedback`.
 */

/** What the feedback routes need to authenticate each provider; a provider left out answers 404. */
export interface FeedbackConfig {
  /** Postmark has no signature: the Basic credentials its webhook URL carries. */
  postmark: { user: string; password: string } | undefined;
  /** SendGrid's Signed Event Webhook verification key (ECDSA P-256), as PEM. */
  sendgrid: { publicKeyPem: string } | undefined;
  /** Mailgun's HTTP webhook signing key. */
  mailgun: { signingKey: string } | undefined;
  /** The SNS topics (ARNs) whose SES notifications are taken; any other topic is refused. */
  ses: { topicArns: readonly string[] } | undefined;
  /** The hosts (`host` or `host:port`) SNS certificate and subscribe URLs may have; null: `sns.<region>.amazonaws.com`. */
  snsHosts: readonly string[] | null;
  /** How far a signed timestamp (SendGrid, Mailgun) may be from now. */
  maxAgeMs: number;
}

const SECTION = 'Bounces from providers';

/** `user:password`, the password never shown. */
function parseBasicCredentials(raw: string): { user: string; password: string } {
  const cut = raw.indexOf(':');
  const user = cut === -1 ? '' : raw.slice(0, cut);
  const password = cut === -1 ? '' : raw.slice(cut + 1);
  if (user === '' || password.length < 8)
    throw new ParseProblem('expected user:password, with a password of at least 8 characters');
  if (/[\s@/]/.test(user)) throw new ParseProblem('the user may not contain spaces, @ or /');
  return { user, password };
}

/** SendGrid shows the key as base64 of its DER (SubjectPublicKeyInfo); PEM is taken too. */
export function parseSendgridPublicKey(raw: string): string {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = raw.includes('-----BEGIN')
      ? createPublicKey(raw.replace(/\\n/g, '\n'))
      : createPublicKey({ key: Buffer.from(raw.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new ParseProblem(
      "expected the Signed Event Webhook's verification key as SendGrid shows it (base64, starting MFkw...), or as PEM",
    );
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new ParseProblem('expected an ECDSA P-256 public key (SendGrid signs with ECDSA P-256)');
  return key.export({ format: 'pem', type: 'spki' }).toString();
}

const ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

function parseTopicArns(raw: string): { topicArns: string[] } {
  const arns = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const bad = arns.find((arn) => !ARN.test(arn));
  if (arns.length === 0 || bad !== undefined)
    throw new ParseProblem(
      `expected comma-separated SNS topic ARNs like arn:aws:sns:eu-west-1:123456789012:ses-bounces${bad ? ` ("${bad}" is not one)` : ''}`,
    );
  return { topicArns: arns };
}

function parseHosts(raw: string): string[] {
  const hosts = raw
    .split(',')
    .map((part) => part.trim().toLowerCase())
    .filter(Boolean);
  for (const host of hosts) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(`https://${host}/`);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.host !== host)
      throw new ParseProblem(`expected comma-separated host or host:port entries ("${host}" is not one)`);
  }
  if (hosts.length === 0) throw new ParseProblem('expected comma-separated host or host:port entries');
  return hosts;
}

function parseMaxAge(raw: string): number {
  const ms = parseDuration(raw);
  if (ms < 1000 || ms > 86_400_000) throw new ParseProblem('expected a duration from 1s to 24h');
  return ms;
}

const hidden = (raw: string): string => `${raw.length} characters`;

/** The feedback webhooks' rows of `BOOT_VARIABLES`. */
export const FEEDBACK_VARIABLES = {
  feedbackPostmarkAuth: variable<{ user: string; password: string } | undefined>({
    name: 'FACTEUR_FEEDBACK_POSTMARK_AUTH',
    section: SECTION,
    unset: { value: () => undefined },
    form: 'user:password (password at least 8 characters)',
    parse: parseBasicCredentials,
    redact: (raw) => `${raw.split(':')[0] ?? ''}:***`,
    description:
      "The HTTP Basic credentials Postmark's bounce and spam-complaint webhooks must send to `POST /api/feedback/postmark` (Postmark has no signature: put them in the webhook URL, `https://user:password@your-host/api/feedback/postmark`). Unset: that route answers `404 FEEDBACK_NOT_CONFIGURED`.",
  }),
  feedbackSendgridKey: variable<{ publicKeyPem: string } | undefined>({
    name: 'FACTEUR_FEEDBACK_SENDGRID_KEY',
    section: SECTION,
    unset: { value: () => undefined },
    form: 'base64 public key (as SendGrid shows it) or PEM',
    parse: (raw) => ({ publicKeyPem: parseSendgridPublicKey(raw) }),
    redact: hidden,
    description:
      "The verification key of SendGrid's Signed Event Webhook (Settings, Mail Settings, Event Webhook, Signed Event Webhook Requests). `POST /api/feedback/sendgrid` checks every request's ECDSA signature with it. Unset: that route answers `404 FEEDBACK_NOT_CONFIGURED`.",
  }),
  feedbackMailgunKey: variable<{ signingKey: string } | undefined>({
    name: 'FACTEUR_FEEDBACK_MAILGUN_KEY',
    section: SECTION,
    unset: { value: () => undefined },
    form: 'text, at least 8 characters',
    parse: (raw) => {
      if (raw.length < 8) throw new ParseProblem('expected the signing key, at least 8 characters');
      return { signingKey: raw };
    },
    redact: hidden,
    description:
      "Mailgun's HTTP webhook signing key (Sending, Webhooks). `POST /api/feedback/mailgun` checks every request's HMAC signature with it. Unset: that route answers `404 FEEDBACK_NOT_CONFIGURED`.",
  }),
  feedbackSesTopics: variable<{ topicArns: string[] } | undefined>({
    name: 'FACTEUR_FEEDBACK_SES_TOPICS',
    section: SECTION,
    unset: { value: () => undefined },
    form: 'comma-separated SNS topic ARNs',
    parse: parseTopicArns,
    description:
      'The SNS topics SES publishes its bounce and complaint notifications to. `POST /api/feedback/ses` takes messages from these topics only (an SNS signature proves the message comes from SNS, not that the topic is yours) and confirms their subscriptions. Unset: that route answers `404 FEEDBACK_NOT_CONFIGURED`.',
  }),
  feedbackSnsHosts: variable<string[] | null>({
    name: 'FACTEUR_FEEDBACK_SNS_HOSTS',
    section: SECTION,
    unset: { shown: '`sns.<region>.amazonaws.com`', value: () => null },
    form: 'comma-separated host or host:port',
    parse: parseHosts,
    description:
      "The hosts an SNS message's `SigningCertURL` and `SubscribeURL` may point at (always `https`, always through the SSRF guard). Unset: `sns.<region>.amazonaws.com` (and `.amazonaws.com.cn`) only. Set it only for a test stand-in or a proxy you run.",
  }),
  feedbackMaxAgeMs: variable({
    name: 'FACTEUR_FEEDBACK_MAX_AGE',
    section: SECTION,
    unset: '15m',
    form: 'duration from 1s to 24h',
    parse: parseMaxAge,
    description:
      "How far the signed timestamp of a SendGrid or Mailgun request may be from Facteur's clock; older (or later) requests are refused with `401 FEEDBACK_REPLAYED`, and a Mailgun token seen within this window is refused as a replay.",
  }),
};

/** `BootConfig.feedback` from the parsed values of FEEDBACK_VARIABLES. */
export function feedbackConfig(v: {
  feedbackPostmarkAuth: FeedbackConfig['postmark'];
  feedbackSendgridKey: FeedbackConfig['sendgrid'];
  feedbackMailgunKey: FeedbackConfig['mailgun'];
  feedbackSesTopics: FeedbackConfig['ses'];
  feedbackSnsHosts: string[] | null;
  feedbackMaxAgeMs: number;
}): FeedbackConfig {
  return {
    postmark: v.feedbackPostmarkAuth,
    sendgrid: v.feedbackSendgridKey,
    mailgun: v.feedbackMailgunKey,
    ses: v.feedbackSesTopics,
    snsHosts: v.feedbackSnsHosts,
    maxAgeMs: v.feedbackMaxAgeMs,
  };
}
