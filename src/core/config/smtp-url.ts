import { ParseProblem } from './parsers.js';

/** An SMTP server as described by `FACTEUR_SMTP_URL`. */
export interface SmtpServerConfig {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (`smtps://`, usually port 465). */
  secure: boolean;
  /** Refuse to send unless STARTTLS succeeds (`?starttls=required`). */
  requireTls: boolean;
  /** Never try STARTTLS (`?starttls=off`), for local sinks only. */
  ignoreTls: boolean;
  /** Verify the server certificate (default true; `?tls_verify=false` for self-signed test servers). */
  tlsVerify: boolean;
  user: string | undefined;
  password: string | undefined;
}

const KNOWN_PARAMS = new Set(['starttls', 'tls_verify']);

/**
 * Parses `smtp://[user[:password]@]host[:port][?starttls=required|opportunistic|off][&tls_verify=false]`
 * or `smtps://...` (implicit TLS). User and password are URL-decoded.
 */
export function parseSmtpUrl(raw: string): SmtpServerConfig {
  const expected =
    'expected smtp://[user:password@]host[:port] or smtps://[user:password@]host[:port] (implicit TLS)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ParseProblem(expected);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new ParseProblem(`${expected}; got the scheme "${url.protocol.replace(/:$/, '')}"`);
  }
  if (!url.hostname) throw new ParseProblem(`${expected}; the host is missing`);
  for (const key of url.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new ParseProblem(`unknown parameter "${key}"; the known ones are starttls and tls_verify`);
    }
  }
  const secure = url.protocol === 'smtps:';
  const starttls = url.searchParams.get('starttls') ?? 'opportunistic';
  if (!['required', 'opportunistic', 'off'].includes(starttls)) {
    throw new ParseProblem('the starttls parameter expects required, opportunistic or off');
  }
  const tlsVerifyRaw = url.searchParams.get('tls_verify') ?? 'true';
  if (tlsVerifyRaw !== 'true' && tlsVerifyRaw !== 'false') {
    throw new ParseProblem('the tls_verify parameter expects true or false');
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host: hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTls: !secure && starttls === 'required',
    ignoreTls: !secure && starttls === 'off',
    tlsVerify: tlsVerifyRaw === 'true',
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  };
}

/** The URL with its password replaced by `***`, for logs and `config check`. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
