import type { StageName } from './model.js';

/** Hints: what to do about a failed stage, by error code, in the words an operator acts on. */

/** What to do about a failed stage, by error code: the hint shown with it. */
export function hintFor(code: string, context: { stage: StageName }): string | null {
  switch (code) {
    case 'SMTP_TIMEOUT':
      return 'The SMTP server did not answer in time (FACTEUR_SMTP_*_TIMEOUT). Run `facteur doctor smtp` to see which stage hangs: a blocked egress port (587/465), a greeting that never comes (implicit TLS vs STARTTLS), or TLS.';
    case 'SMTP_CONNECT':
      return 'The SMTP server cannot be reached. Run `facteur doctor smtp`: wrong host or port, or the port is blocked by a firewall or the hosting provider.';
    case 'SMTP_TLS':
      return 'TLS with the SMTP server failed. Run `facteur doctor smtp` to see the certificate (name, issuer, expiry) and the TLS mode.';
    case 'SMTP_AUTH':
      return 'The SMTP server refused the login. With Gmail or Google Workspace, use an app password (2-step verification on); otherwise check the user and password in FACTEUR_SMTP_URL.';
    case 'SMTP_REJECTED':
      return 'The SMTP server refused the message or its recipients; the reply says why (relay not allowed for this sender, unknown recipient).';
    case 'SMTP_UNAVAILABLE':
      return 'The SMTP circuit breaker is open after repeated connection failures; the send resumes when a probe succeeds. See /readyz.';
    case 'SMTP_TRANSIENT':
      return 'The server deferred the message (4xx); it is retried on the mail retry schedule.';
    case 'TARGET_FORBIDDEN':
      return 'The data source resolves to a private address; allow it with FACTEUR_ALLOW_PRIVATE_TARGETS if it is yours.';
    case 'REPORT_DATA_TIMEOUT':
      return "The data source did not answer within the report's `data.timeout`; make the query or endpoint faster, or raise the timeout.";
    case 'REPORT_DATA_UNREACHABLE':
      return 'The data source cannot be reached: check the host, the port and that the service is up.';
    case 'REPORT_DATA_HTTP':
      return 'The data URL answered an HTTP error; a 401 or 403 means the bearer token or headers are wrong.';
    case 'REPORT_DATA_INVALID':
      return 'The data source answered something that is not a JSON object (or the rows are too many); check the URL or the query.';
    case 'REPORT_DATA_SQL':
      return 'The SQL query failed on the database: run it by hand against the same database to see the error.';
    case 'REPORT_DATA_MISSING':
      return 'This report takes its data in the trigger request: send `{"data": {...}}` to POST /api/reports/:id/runs.';
    case 'REPORT_RENDER_FAILED':
      return 'A template failed to render with this data: try POST /api/reports/:id/preview with the same data.';
    case 'JOB_LEASE_EXPIRED':
    case 'JOB_INTERRUPTED':
      return context.stage === 'send'
        ? 'The process stopped during the send; the message may have been taken. Check the message attempts.'
        : 'The process stopped during the run; it is retried.';
    default:
      return null;
  }
}
