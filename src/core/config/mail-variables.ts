import { ParseProblem, parseDurationList, parsePort, parsePositiveDuration, parseSender } from './parsers.js';
import type { SmtpServerConfig } from './smtp-url.js';
import {
  parseSmtpTransportUrl,
  parseTransportList,
  redactTransportList,
  type TransportBudget,
  type TransportConfig,
} from './transport-url.js';
import { DURATION_FORM, hidePassword, variable, wholeNumber } from './variable-kit.js';

/** `FACTEUR_SMTP_URL` as read: the server, and the rate budget its parameters give. */
export type SmtpUrlConfig = SmtpServerConfig & { budget?: TransportBudget };

/** The one transport `FACTEUR_SMTP_URL` stands for, its budget included. */
function smtpUrlTransport(server: SmtpServerConfig): TransportConfig {
  const { budget, ...plain } = server as SmtpUrlConfig;
  return { kind: 'smtp', name: 'smtp', server: plain, ...(budget ? { budget } : {}) };
}

/**
 * The boot variables of outbound mail (the SMTP relay, the transport list, the catcher,
 * sending), spread into `BOOT_VARIABLES` in their place; kept here so that variables.ts stays
 * within the layout's size rule.
 */
export const MAIL_VARIABLES = {
  smtpServer: variable<SmtpUrlConfig | undefined>({
    name: 'FACTEUR_SMTP_URL',
    section: 'SMTP',
    unset: { value: () => undefined },
    form: 'smtp://[user:pass@]host[:port][?starttls=required|opportunistic|off][&tls_verify=false][&rate=N/s][&hourly=N][&daily=N] or smtps://...',
    parse: (raw) => {
      const { server, budget } = parseSmtpTransportUrl(raw);
      return budget ? { ...server, budget } : server;
    },
    redact: hidePassword,
    description:
      'SMTP relay to send through. Unset: the built-in mail catcher. `rate`, `hourly` and `daily` set its [rate budget](#rate-budgets).',
  }),
  smtpPoolSize: variable({
    name: 'FACTEUR_SMTP_POOL_SIZE',
    section: 'SMTP',
    unset: '5',
    form: 'whole number 1-100',
    parse: wholeNumber(1, 100),
    description: 'Pooled SMTP connections (per process).',
  }),
  smtpConnectTimeoutMs: variable({
    name: 'FACTEUR_SMTP_CONNECT_TIMEOUT',
    section: 'SMTP',
    unset: '10s',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description: 'Time allowed to open the TCP (and TLS) connection. Also bounds the DNS lookup.',
  }),
  smtpGreetingTimeoutMs: variable({
    name: 'FACTEUR_SMTP_GREETING_TIMEOUT',
    section: 'SMTP',
    unset: '10s',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description: 'Time allowed for the server greeting after connecting.',
  }),
  smtpSocketTimeoutMs: variable({
    name: 'FACTEUR_SMTP_SOCKET_TIMEOUT',
    section: 'SMTP',
    unset: '30s',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description: 'Longest silence from the server during a conversation.',
  }),
  smtpSendTimeoutMs: variable({
    name: 'FACTEUR_SMTP_SEND_TIMEOUT',
    section: 'SMTP',
    unset: '60s',
    form: DURATION_FORM,
    parse: parsePositiveDuration,
    description:
      'Longest time one send attempt may take in total; past it the attempt fails and its SMTP session is closed, so the message cannot go out after it was recorded as failed.',
  }),
  transports: variable<TransportConfig[]>({
    name: 'FACTEUR_TRANSPORTS',
    section: 'Transports',
    unset: {
      shown: '`FACTEUR_SMTP_URL` alone, or the catcher',
      value: (context) => {
        const server = context.smtpServer();
        return server ? [smtpUrlTransport(server)] : [];
      },
    },
    form: 'comma-separated transport URLs (smtp://, smtps://, postmark://, sendgrid://, mailgun://, ses://)',
    parse: (raw, context) => {
      if (context.smtpServer() !== undefined)
        throw new ParseProblem(
          'FACTEUR_SMTP_URL is set too; set one of them (put the SMTP URL in FACTEUR_TRANSPORTS)',
        );
      return parseTransportList(raw);
    },
    redact: redactTransportList,
    description:
      'Transports in failover order: each message goes through the first that takes it (see [Transports](#transports)). Each URL may set a [rate budget](#rate-budgets) (`rate`, `hourly`, `daily`). Unset: `FACTEUR_SMTP_URL` as the only one, or the built-in catcher. Not with `FACTEUR_SMTP_URL`.',
  }),
  catcherPort: variable({
    name: 'FACTEUR_CATCHER_PORT',
    section: 'Catcher',
    unset: '1025',
    form: 'port 0-65535',
    parse: parsePort,
    description:
      'Port of the built-in mail catcher (used when FACTEUR_SMTP_URL is unset). It always listens on `127.0.0.1`.',
  }),
  catcherRetain: variable({
    name: 'FACTEUR_CATCHER_RETAIN',
    section: 'Catcher',
    unset: '1000',
    form: 'whole number 1-1000000',
    parse: wholeNumber(1, 1_000_000),
    description:
      'Messages the catcher keeps; older ones are deleted. The check runs every 50 messages received (the 1st, 51st, 101st, ... since start), so the catcher can briefly hold up to `FACTEUR_CATCHER_RETAIN` + 49.',
  }),
  mailFrom: variable({
    name: 'FACTEUR_MAIL_FROM',
    section: 'Sending',
    unset: 'Facteur <facteur@localhost>',
    form: 'email address, optionally "Name <addr>"',
    parse: parseSender,
    description:
      'Sender used when a message has no `from`. Checked like the addresses of the API ([api.md](api.md#sending-a-message)): a malformed value is a `CONFIG_INVALID` that says what is wrong with it. Its domain is also the right-hand side of the generated `Message-ID`.',
  }),
  sendConcurrency: variable({
    name: 'FACTEUR_SEND_CONCURRENCY',
    section: 'Sending',
    unset: '10',
    form: 'whole number 1-1000',
    parse: wholeNumber(1, 1000),
    description: 'Messages sent at the same time by one process.',
  }),
  sendRetryScheduleMs: variable({
    name: 'FACTEUR_SEND_RETRY_SCHEDULE',
    section: 'Sending',
    unset: '10s,1m,5m,15m,30m,1h,2h,4h',
    form: 'comma-separated durations',
    parse: parseDurationList,
    description:
      'Delay before each retry of a failed send (jittered by ±10%); the list length is the number of retries.',
  }),
};
