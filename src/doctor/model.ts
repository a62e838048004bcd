import type { ErrorCode } from '../core/errors.js';

/**
 * `facteur doctor`: the pure part. What a check reports (stages with facts, outcome and hint),
 * and the hints for the known causes of each failure: which stage failed and what to do about
 * it, so that nobody has to debug a relay with `nc -vz` and `openssl s_client` again.
 */

/** How a stage ended. */
export type StageOutcome = 'ok' | 'failed' | 'skipped' | 'warning';

/** Facts a stage found (addresses, banner, capabilities, certificate, ...); never a secret. */
export type Facts = Record<string, unknown>;

/** One stage of a check, as reported. */
export interface StageResult {
  stage: string;
  outcome: StageOutcome;
  /** How long the stage took (0 for a skipped one). */
  ms: number;
  detail: Facts;
  errorCode?: ErrorCode;
  message?: string;
  hint?: string;
}

/** The checks the doctor runs (`provider`: a provider API transport of FACTEUR_TRANSPORTS). */
export type CheckName = 'smtp' | 'imap' | 'webhook' | 'provider';

/** A whole check: its stages in order; ok when none failed. */
export interface CheckReport {
  check: CheckName;
  /** What was checked, without credentials (smtp://host:port, an API base, a mailbox or endpoint name). */
  target: string;
  /** The transport's name (as in /readyz) when the check is of a configured transport. */
  transport?: string;
  ok: boolean;
  stages: StageResult[];
  /** A mailbox's watchers as the running instance sees them (through the API only). */
  watchers?: Facts[];
}

/** True when no stage failed. */
export function stagesOk(stages: readonly StageResult[]): boolean {
  return stages.every((s) => s.outcome !== 'failed');
}

/** `12 s`, `1.5 s`, `250 ms`: a duration as a person reads it. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

/** What kind of server a stage talks to, for hints. */
export type Service = 'smtp' | 'imap' | 'webhook' | 'provider';

/** The hint for a host name that does not resolve. */
export function dnsHint(code: string | undefined, host: string): string {
  if (code === 'EAI_AGAIN' || code === 'ETIMEOUT' || code === 'ESERVFAIL')
    return `the resolver did not answer for ${host}: check the DNS servers of this host (/etc/resolv.conf) and its network`;
  return `${host} does not exist in DNS: check the spelling of the host name`;
}

/** The hint for a TCP connection that failed with `code` (or timed out). */
export function connectHint(code: string | undefined, service: Service, port: number): string {
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing listens on port ${port} there: check the port, and that the server is running`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to that address: an IPv6 address on a host without IPv6, or a firewall that rejects it';
    case 'ECONNRESET':
      return 'the connection was reset at once: a firewall, or a server that refuses this client';
    case 'TIMEOUT':
    case 'ETIMEDOUT': {
      if (service === 'smtp' && (port === 25 || port === 587))
        return `the connection was dropped silently: outgoing port ${port} is blocked by a firewall or the provider (many clouds block 25 and often 587); try port 465 (smtps://) or an API transport`;
      return `the connection was dropped silently: a firewall between here and the server blocks outgoing port ${port}`;
    }
    default:
      return `the connection failed (${code ?? 'unknown error'}): check the host and port`;
  }
}

/** The hint for an SMTP greeting that never came. */
export function greetingTimeoutHint(secure: boolean, port: number): string {
  if (!secure && port === 465)
    return 'port 465 expects TLS from the first byte: use smtps:// instead of smtp://';
  if (secure)
    return 'the TLS connection is up but the server says nothing: a proxy, or a port that is not SMTP';
  return 'the server accepted the connection but never greeted: a port that speaks TLS first (use smtps://), a proxy, or a port that is not SMTP';
}

/** The hint for a greeting that is not SMTP at all (HTTP, binary). */
export function foreignGreetingHint(banner: string, port: number): string | undefined {
  if (/^HTTP\//.test(banner) || /^<html/i.test(banner)) return `port ${port} answers HTTP, not SMTP`;
  if (/^\* (OK|PREAUTH)/.test(banner)) return `port ${port} answers IMAP, not SMTP`;
  if (/^SSH-/.test(banner)) return `port ${port} answers SSH, not SMTP`;
  if (/^[^\x20-\x7e]/.test(banner))
    return `port ${port} sent binary data: it probably expects TLS first (use smtps://)`;
  return undefined;
}

/** The hint for a TLS handshake that failed with `code` before any certificate could be judged. */
export function handshakeHint(code: string | undefined, implicit: boolean): string {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO' || code === 'ECONNRESET') {
    return implicit
      ? 'the server does not speak TLS on this port: use smtp:// (STARTTLS, usually 587) or the TLS port (465, 993)'
      : 'the STARTTLS handshake failed: the server announced TLS but does not complete it (a broken proxy or server)';
  }
  return 'the TLS handshake failed: the server and Node agree on no protocol or cipher, or the connection was cut';
}

/** What Node and the certificate say about a TLS session. */
export interface CertificateFacts {
  subject: string | null;
  /** The DNS names and IP addresses the certificate is valid for. */
  names: string[];
  issuer: string | null;
  validFrom: string | null;
  validTo: string | null;
  /** Node's verification error (chain, expiry), or null when the chain is trusted. */
  authorizationError: string | null;
  /** `checkServerIdentity`'s message when the names do not cover the host, else null. */
  identityError: string | null;
  selfSigned: boolean;
}

/** A problem with a certificate, by kind. */
export interface CertificateProblem {
  kind: 'self-signed' | 'expired' | 'not-yet-valid' | 'wrong-name' | 'untrusted';
  message: string;
}

const SELF_SIGNED_ERRORS = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN']);

/** Every problem of a certificate for `host` at `now`. */
export function certificateProblems(cert: CertificateFacts, host: string, now: number): CertificateProblem[] {
  const problems: CertificateProblem[] = [];
  const to = cert.validTo ? Date.parse(cert.validTo) : Number.NaN;
  const from = cert.validFrom ? Date.parse(cert.validFrom) : Number.NaN;
  if (cert.selfSigned || (cert.authorizationError && SELF_SIGNED_ERRORS.has(cert.authorizationError)))
    problems.push({ kind: 'self-signed', message: 'the certificate is self-signed' });
  if (cert.authorizationError === 'CERT_HAS_EXPIRED' || (Number.isFinite(to) && to < now))
    problems.push({ kind: 'expired', message: `the certificate expired on ${cert.validTo}` });
  if (cert.authorizationError === 'CERT_NOT_YET_VALID' || (Number.isFinite(from) && from > now))
    problems.push({ kind: 'not-yet-valid', message: `the certificate is valid only from ${cert.validFrom}` });
  if (cert.identityError) {
    const names = cert.names.length > 0 ? cert.names.join(', ') : (cert.subject ?? 'no name');
    problems.push({
      kind: 'wrong-name',
      message: `the certificate is for ${names}, not for ${host}`,
    });
  }
  if (cert.authorizationError && problems.length === 0)
    problems.push({
      kind: 'untrusted',
      message: `the certificate is not trusted (${cert.authorizationError})`,
    });
  return problems;
}

/** The hint for certificate problems; `verify` false means the setting accepts them anyway. */
export function certificateHint(
  problems: readonly CertificateProblem[],
  service: Service,
  verify: boolean,
): string {
  const setting =
    service === 'smtp' ? '`tls_verify=false` in the URL' : service === 'imap' ? '`tlsVerify: false`' : null;
  const kinds = new Set(problems.map((p) => p.kind));
  if (!verify)
    return `accepted only because ${setting ?? 'verification is off'}: keep that for a test relay, never for a real one`;
  const parts: string[] = [];
  if (kinds.has('wrong-name'))
    parts.push(
      'connect with a host name the certificate names (the one shown), or have the certificate reissued for this name',
    );
  if (kinds.has('expired')) parts.push('the server must renew its certificate');
  if (kinds.has('not-yet-valid')) parts.push("check this host's clock, or the server's new certificate");
  if (kinds.has('self-signed') || kinds.has('untrusted'))
    parts.push('the server needs a certificate from a public authority');
  const fallback = setting ? `; ${setting} only for a test relay` : '';
  return `${parts.join('; ')}${fallback}`;
}

/** True for Google's mail hosts (smtp.gmail.com, imap.gmail.com, smtp-relay.gmail.com, *.google.com). */
export function isGoogleHost(host: string): boolean {
  return /(^|\.)(gmail|googlemail|google)\.com\.?$/i.test(host);
}

/** The enhanced status code (RFC 3463) at the start of a reply text, e.g. `5.7.1`. */
export function enhancedCode(text: string): string | undefined {
  return /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(text.trim())?.[1];
}

/** The code and hint for an AUTH refused with `code`; `host` decides the Gmail advice. */
export function smtpAuthFailure(
  code: number,
  text: string,
  host: string,
): { errorCode: ErrorCode; hint: string } {
  const google = isGoogleHost(host);
  if (code >= 400 && code < 500)
    return { errorCode: 'SMTP_TRANSIENT', hint: 'a temporary refusal: try again later' };
  if (code === 534 && (enhancedCode(text) === '5.7.9' || google))
    return {
      errorCode: 'SMTP_AUTH',
      hint: 'Google wants an app password: turn on 2-step verification for the account, create an app password, and put it in FACTEUR_SMTP_URL instead of the account password',
    };
  if (code === 538 || code === 530)
    return {
      errorCode: 'SMTP_AUTH',
      hint: 'the server wants TLS before AUTH: use ?starttls=required or smtps://',
    };
  if (google)
    return {
      errorCode: 'SMTP_AUTH',
      hint: 'Google refused the login: with 2-step verification on, use an app password (not the account password); the user must be the full address',
    };
  return {
    errorCode: 'SMTP_AUTH',
    hint: 'wrong user or password: check the credentials in FACTEUR_SMTP_URL (URL-encode @, : and / in them)',
  };
}

/** The hint for a recipient refused at RCPT TO. */
export function rcptHint(code: number, text: string, authenticated: boolean): string {
  const enhanced = enhancedCode(text);
  if (code >= 400 && code < 500)
    return 'a temporary refusal (greylisting, rate limit): a real send is retried later';
  if ((code === 550 || code === 554 || code === 553) && enhanced === '5.7.1') {
    return authenticated
      ? 'relay refused: the server does not relay for this sender with this login; use a From address the account may send as'
      : 'relay refused: the server does not relay for unauthenticated clients; add user:password to the URL, or use an allowed From';
  }
  if (enhanced === '5.1.1') return 'the recipient address does not exist on that server';
  return 'the server refused the recipient: its reply says why';
}

/** The hint for a sender refused at MAIL FROM. */
export function mailFromHint(code: number): string {
  if (code >= 400 && code < 500) return 'a temporary refusal of the sender: a real send is retried later';
  return 'the server refused the sender: set FACTEUR_MAIL_FROM to an address the account may send as';
}

/** Configured timeouts against what one run measured. */
export interface TimeoutComparison {
  /** The variable, e.g. FACTEUR_SMTP_GREETING_TIMEOUT. */
  variable: string;
  configuredMs: number;
  measuredMs: number;
}

/** Longer than this, a dead server holds each attempt for long before it is retried. */
const LONG_TIMEOUT_MS = 120_000;

/** Warnings for timeouts too short (measured over half) or far too long for what was measured. */
export function timeoutWarnings(comparisons: readonly TimeoutComparison[]): string[] {
  const warnings: string[] = [];
  for (const c of comparisons) {
    if (c.measuredMs > c.configuredMs / 2) {
      warnings.push(
        `${c.variable} is ${formatDuration(c.configuredMs)} and this run took ${formatDuration(c.measuredMs)}: raise it, a slower day will time out`,
      );
    } else if (c.configuredMs > LONG_TIMEOUT_MS && c.measuredMs * 20 < c.configuredMs) {
      warnings.push(
        `${c.variable} is ${formatDuration(c.configuredMs)} for ${formatDuration(c.measuredMs)} measured: a hanging server holds each send that long before it is retried`,
      );
    }
  }
  return warnings;
}

/** The hint for a guard refusal of `rule`. */
export function ssrfHint(rule: string): string {
  if (rule === 'metadata') return 'cloud metadata addresses are never allowed, whatever the setting';
  return `${rule} addresses are refused: set FACTEUR_ALLOW_PRIVATE_TARGETS on the server (true, or CIDR ranges such as 10.0.0.0/8) to reach private or on-premise hosts`;
}

/** The hint for a webhook test answer that failed. */
export function webhookAnswerHint(status: number | null, errorCode: string | undefined): string {
  if (status === null) {
    if (errorCode === 'WEBHOOK_TIMEOUT')
      return "the receiver did not answer within the endpoint's timeout: answer at once and do the work in the background, or raise `timeout`";
    return 'the request did not get an answer: see the message, and the tcp and tls stages';
  }
  if (status === 401 || status === 403)
    return "the receiver refused the request: check that it verifies signatures with this endpoint's current secret (rotate-secret shows a new one) and that the endpoint sends the headers it wants";
  if (status === 404 || status === 405) return 'the receiver has no such route: check the path of the URL';
  if (status === 410) return 'the receiver says this URL is gone: a real delivery would disable the endpoint';
  if (status === 415) return "the receiver does not take this body format: set the endpoint's `format`";
  if (status === 429)
    return "the receiver is rate limiting: lower the endpoint's `rateLimit` or `concurrency`";
  if (status >= 300 && status < 400)
    return 'the receiver redirects: Facteur does not follow redirects, set the final URL';
  if (status >= 400 && status < 500)
    return "the receiver refused the body: check the endpoint's `format` and `payloadShape` against what it expects";
  if (status >= 500)
    return 'the receiver failed on its side: its own logs say why (a real delivery is retried)';
  if (errorCode === 'WEBHOOK_NOT_CONFIRMED')
    return 'the success rule is json-success and the receiver did not answer {"success": true}';
  return 'the receiver did not accept the request';
}

/** The hint for an IMAP login refused. */
export function imapLoginHint(host: string, oauth: boolean): string {
  if (oauth) return 'the server refused the access token: check the user and the OAuth2 client and scopes';
  if (isGoogleHost(host))
    return 'Google refused the login: use an app password (with 2-step verification on) and check that IMAP is on';
  return 'wrong user or password: fix them with PATCH /api/mailboxes/{id}';
}

/** One stage as a line of the human output: mark, name, time, facts; the hint indented below. */
export function formatStage(stage: StageResult): string[] {
  const mark = { ok: '✓', failed: '✗', skipped: '-', warning: '!' }[stage.outcome];
  const facts = formatFacts(stage.detail);
  const time = stage.outcome === 'skipped' ? '' : ` ${formatDuration(stage.ms)}`;
  if (stage.outcome === 'skipped') return [`${mark} ${stage.stage}  (${stage.message ?? 'skipped'})`];
  const head = `${mark} ${stage.stage}${time}${facts ? `  ${facts}` : ''}`;
  const lines = [head];
  if (stage.message) lines.push(`    ${stage.errorCode ? `[${stage.errorCode}] ` : ''}${stage.message}`);
  if (stage.hint) lines.push(`    hint: ${stage.hint}`);
  return lines;
}

function formatValue(value: unknown): string {
  if (Array.isArray(value)) return value.map(formatValue).join(', ');
  if (value && typeof value === 'object')
    return Object.entries(value as Facts)
      .map(([k, v]) => `${k} ${formatValue(v)}`)
      .join(' ');
  return String(value);
}

/** Facts as `key=value` pairs on one line. */
export function formatFacts(detail: Facts): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join('  ');
}

/** The stage `name` of a report; throws when the check has no such stage. */
export function stageOf(report: CheckReport, name: string): StageResult {
  const found = report.stages.find((s) => s.stage === name);
  if (!found) throw new Error(`no ${name} stage in ${JSON.stringify(report.stages.map((s) => s.stage))}`);
  return found;
}
