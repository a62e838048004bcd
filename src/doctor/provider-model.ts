import type { ProviderTransportConfig } from '../core/config/index.js';
import { type Facts, formatDuration } from './model.js';

/**
 * `doctor transport` for a provider API, the pure part: which request the `auth` stage makes,
 * what it may show of the transport (never a key), and the hint for each way the provider
 * answers it (a wrong or under-privileged key, a Mailgun domain in another account or region,
 * an AWS signature made with the wrong secret or region, a timeout).
 */

/** What the `auth` stage read of a failed verify request (the AppError's code and details). */
export interface ProviderFailure {
  code: string;
  httpStatus: number | null;
  /** The provider's own code (SES `__type`, Postmark ErrorCode), if any. */
  providerCode: string | null;
}

/** The one authenticated read request each provider's `verify()` makes. */
export function verifyRequestLine(transport: ProviderTransportConfig): string {
  switch (transport.kind) {
    case 'postmark':
      return 'GET /server';
    case 'sendgrid':
      return 'GET /v3/scopes';
    case 'mailgun':
      return `GET /v3/domains/${transport.domain}`;
    default:
      return 'GET /v2/email/account';
  }
}

/** What may be shown of a transport: its kind and the settings that are not secrets. */
export function transportFacts(transport: ProviderTransportConfig): Facts {
  switch (transport.kind) {
    case 'postmark':
      return { provider: 'postmark', messageStream: transport.messageStream ?? 'outbound' };
    case 'sendgrid':
      return { provider: 'sendgrid' };
    case 'mailgun':
      return { provider: 'mailgun', domain: transport.domain };
    default:
      // The access key id names the key, as a user name does; the secret is never shown.
      return { provider: 'ses', region: transport.region, accessKeyId: transport.accessKeyId };
  }
}

/** The keys of a transport, as written and URL-encoded, longest first (to hide them in text). */
export function transportSecrets(transport: ProviderTransportConfig): string[] {
  const raw =
    transport.kind === 'postmark'
      ? transport.serverToken
      : transport.kind === 'ses'
        ? transport.secretAccessKey
        : transport.apiKey;
  return [...new Set([raw, encodeURIComponent(raw)])]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length);
}

/** `text` with each secret replaced by `***`: a provider's answer must not carry a key out. */
export function hideSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

const SES_SIGNATURE = new Set([
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'SignatureDoesNotMatchException',
  'IncompleteSignatureException',
]);
const SES_UNKNOWN_KEY = new Set(['UnrecognizedClientException', 'InvalidClientTokenId']);

function sesAuthHint(providerCode: string | null, region: string): string {
  if (providerCode && SES_SIGNATURE.has(providerCode))
    return `AWS refused the signature: the secret access key is wrong, or the region (${region}) is not the SES region of this account; check the secret (percent-encode / and + in the URL) and the region (the host email.REGION.amazonaws.com or ?region=)`;
  if (providerCode && SES_UNKNOWN_KEY.has(providerCode))
    return 'AWS does not know the access key id: check it, and that the key is active in IAM';
  if (providerCode === 'AccessDeniedException')
    return "the key is valid but its IAM policy does not allow this: grant ses:GetAccount (this check) and ses:SendEmail / ses:SendRawEmail (sending) to the key's user";
  if (providerCode === 'ExpiredTokenException' || providerCode === 'MissingAuthenticationTokenException')
    return "the credentials expired or are incomplete: use an IAM user's long-lived access key";
  if (providerCode === 'AccountSuspendedException')
    return 'the SES account is suspended for sending: see the reputation dashboard of the SES console';
  return `AWS refused the credentials: check the access key id, the secret access key and the region (${region})`;
}

function keyHint(transport: ProviderTransportConfig, status: number | null): string {
  switch (transport.kind) {
    case 'postmark':
      return 'Postmark refused the server token: it is wrong, or is an account token; use a Server API token (Servers > the server > API Tokens)';
    case 'sendgrid':
      return status === 403
        ? 'the SendGrid API key lacks the permission: give it Mail Send access (Settings > API Keys)'
        : 'SendGrid refused the API key: it is wrong, or was deleted; create one with Mail Send access under Settings > API Keys';
    case 'mailgun':
      return status === 403
        ? "the Mailgun key lacks the permission to read the domain: use the account's private API key"
        : "Mailgun refused the API key: it is wrong, or is a domain sending key (use the account's private API key), or belongs to the other region: EU accounts are on api.eu.mailgun.net, US ones on api.mailgun.net";
    default:
      return sesAuthHint(null, transport.region);
  }
}

/** The hint for a verify request that failed with `failure`; `timeoutMs` is the request's bound. */
export function providerAuthHint(
  transport: ProviderTransportConfig,
  failure: ProviderFailure,
  timeoutMs: number,
): string {
  const { code, httpStatus } = failure;
  if (code === 'PROVIDER_AUTH') {
    if (transport.kind === 'ses') return sesAuthHint(failure.providerCode, transport.region);
    return keyHint(transport, httpStatus);
  }
  if (transport.kind === 'mailgun' && httpStatus === 404)
    return `the domain ${transport.domain} is not in this Mailgun account, or the region is wrong: domains of an EU account are reached through api.eu.mailgun.net, US ones through api.mailgun.net`;
  switch (code) {
    case 'PROVIDER_TIMEOUT':
      return `the API did not answer within ${formatDuration(timeoutMs)} (FACTEUR_SMTP_SEND_TIMEOUT): the provider is slow, or a proxy or firewall holds the request; check the provider's status page`;
    case 'PROVIDER_RATE_LIMITED':
      return "the provider is throttling this key: check the account's sending limits; sends meanwhile go to the next transport or wait";
    case 'PROVIDER_UNAVAILABLE':
      return httpStatus !== null
        ? `the provider is failing on its side (HTTP ${httpStatus}): see its status page; sends meanwhile go to the next transport`
        : 'the request did not reach the API although a connection opened: a proxy, or a TLS problem only the HTTP client sees; see the message';
    case 'PROVIDER_PROTOCOL':
      return "the API answered something Facteur cannot read: check that the host (or api_base) is the provider's API, not a proxy or a web page";
    case 'TARGET_FORBIDDEN':
      return 'the SSRF guard refused the API address: an http:// api_base is allowed only on a private host the policy allows (FACTEUR_ALLOW_PRIVATE_TARGETS); use https://';
    default:
      return 'the provider refused the request: its answer says why';
  }
}
