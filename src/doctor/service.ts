import type { LookupFunction } from 'node:net';
import type { Clock } from '../core/clock.js';
import {
  type BootConfig,
  parseSmtpUrl,
  type SmtpServerConfig,
  type TransportConfig,
} from '../core/config/index.js';
import { addressProblem } from '../core/email-address.js';
import { AppError } from '../core/errors.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import { type Logger, silentLogger } from '../core/observability/index.js';
import type { Inbound } from '../inbound/index.js';
import { buildTransports, catcherTransport } from '../mail/index.js';
import type { Endpoint, Webhooks } from '../webhooks/index.js';
import { checkImap, type DoctorMailbox } from './imap.js';
import type { CheckReport, Facts, StageResult } from './model.js';
import { checkProvider } from './provider.js';
import { checkSmtp, type SmtpTimeouts } from './smtp.js';
import { checkWebhook } from './webhook.js';

/**
 * The doctor's use cases: which server, mailbox or endpoint a check is about (from the
 * configuration, or named by a caller), then the check itself. The HTTP routes and the CLI
 * both come through here.
 */

/** What the doctor works with. */
export interface DoctorDeps {
  clock: Clock;
  /** The SSRF guard, for IMAP hosts, webhook URLs and SMTP URLs given by an API caller. */
  guard: TargetGuard;
  lookup?: LookupFunction;
  /** For the provider transports the checks build (default silent). */
  logger?: Logger;
  /** Outbound mail: the relay `doctor smtp` checks, and every transport. */
  smtp: {
    /**
     * The relay `doctor smtp` checks without a URL: the first SMTP transport of
     * FACTEUR_TRANSPORTS, or the built-in catcher; undefined when the list holds only providers.
     */
    server: SmtpServerConfig | undefined;
    source: 'config' | 'catcher';
    timeouts: SmtpTimeouts;
    /** FACTEUR_MAIL_FROM: the sender of the test message. */
    from: string;
    /** Every transport in failover order; the catcher (named `catcher`) when none is configured. */
    transports: readonly TransportConfig[];
  };
  webhooks: Webhooks;
  inbound: Inbound;
  /** Inside the serving instance: the mailbox check reports its watchers' current state. */
  live: boolean;
  /** Trusted CA certificates (PEM) instead of the system store (tests, private relays). */
  ca?: string[];
}

/** Where a bad input is, for VALIDATION_FAILED (the body field, or a CLI argument). */
export interface InputPlace {
  in: string;
  field: string;
}

/** The mail part of the deps from the boot config; `catcherPort` is where the catcher listens. */
export function smtpTarget(
  config: BootConfig,
  catcherPort: number = config.catcher.port,
): DoctorDeps['smtp'] {
  const timeouts = {
    connectMs: config.smtp.connectTimeoutMs,
    greetingMs: config.smtp.greetingTimeoutMs,
    socketMs: config.smtp.socketTimeoutMs,
    sendMs: config.smtp.sendTimeoutMs,
  };
  // FACTEUR_TRANSPORTS holds FACTEUR_SMTP_URL too, as a one-element list; empty means the catcher.
  const transports = config.transports.length > 0 ? config.transports : [catcherTransport(catcherPort)];
  const relay = transports.find((t) => t.kind === 'smtp');
  return {
    server: relay?.server,
    source: config.transports.length > 0 ? 'config' : 'catcher',
    timeouts,
    from: config.mail.defaultFrom,
    transports,
  };
}

function invalid(place: InputPlace, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${place.field}: ${message}`, {
    details: [{ ...place, message }],
  });
}

/** Input of the SMTP check. */
export interface SmtpDoctorInput {
  /** Another relay than the configured one. */
  url?: string;
  /** Also send a test message to this address. */
  sendTo?: string;
  /** A URL given by an API caller is reached on their behalf: its addresses go through the guard. */
  guarded?: boolean;
  /** Where `url` and `sendTo` come from, for error messages (default the request body). */
  places?: { url: InputPlace; sendTo: InputPlace };
}

/** `doctor smtp`: the configured relay, or `url`. */
export async function doctorSmtp(
  deps: Pick<DoctorDeps, 'clock' | 'guard' | 'lookup' | 'smtp' | 'ca'>,
  input: SmtpDoctorInput = {},
  onStage?: (stage: StageResult) => void,
): Promise<CheckReport> {
  const places = input.places ?? {
    url: { in: 'body', field: 'url' },
    sendTo: { in: 'body', field: 'sendTo' },
  };
  let server = deps.smtp.server;
  if (input.url !== undefined) {
    try {
      server = parseSmtpUrl(input.url);
    } catch (error) {
      throw invalid(places.url, (error as Error).message);
    }
  }
  if (server === undefined) {
    const names = deps.smtp.transports.map((t) => `${t.name} (${t.kind})`).join(', ');
    throw invalid(
      places.url,
      `no SMTP relay is configured: FACTEUR_TRANSPORTS lists only provider transports (${names}); check them with \`facteur doctor transport NAME\` (POST /api/doctor/transport), or give a relay URL to check`,
    );
  }
  if (input.sendTo !== undefined) {
    const problem = addressProblem(input.sendTo);
    if (problem) throw invalid(places.sendTo, problem);
  }
  const transport =
    input.url === undefined ? deps.smtp.transports.find((t) => t.kind === 'smtp')?.name : undefined;
  const report = await checkSmtp({
    server,
    source: input.url !== undefined ? 'request' : deps.smtp.source,
    ...(input.url !== undefined && input.guarded ? { guard: deps.guard } : {}),
    ...(input.sendTo !== undefined ? { sendTo: input.sendTo } : {}),
    from: deps.smtp.from,
    timeouts: deps.smtp.timeouts,
    clock: deps.clock,
    ...(deps.ca ? { ca: deps.ca } : {}),
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(onStage ? { onStage } : {}),
  });
  return transport ? { ...report, transport } : report;
}

/** `doctor transport NAME`: a transport of FACTEUR_TRANSPORTS by its name (as in /readyz). */
export async function doctorTransport(
  deps: TransportDeps,
  name: string,
  onStage?: (stage: StageResult) => void,
): Promise<CheckReport> {
  const { transports } = deps.smtp;
  const transport =
    transports.find((t) => t.name === name) ??
    transports.find((t) => t.name.toLowerCase() === name.toLowerCase());
  if (!transport)
    throw new AppError(
      'NOT_FOUND',
      `no transport is named "${name}"; the transports are: ${transports.map((t) => t.name).join(', ')}`,
      { details: { transport: name, transports: transports.map((t) => t.name) } },
    );
  return transportCheck(deps, transport, onStage);
}

/** What the check of one transport needs. */
export type TransportDeps = Pick<DoctorDeps, 'clock' | 'guard' | 'lookup' | 'logger' | 'smtp' | 'ca'>;

/** The check of one transport: the smtp check on an SMTP one, the provider check on the others. */
async function transportCheck(
  deps: TransportDeps,
  transport: TransportConfig,
  onStage?: (stage: StageResult) => void,
): Promise<CheckReport> {
  const common = {
    clock: deps.clock,
    ...(deps.ca ? { ca: deps.ca } : {}),
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(onStage ? { onStage } : {}),
  };
  const { timeouts } = deps.smtp;
  if (transport.kind === 'smtp') {
    const report = await checkSmtp({
      ...common,
      server: transport.server,
      source: deps.smtp.source,
      from: deps.smtp.from,
      timeouts,
    });
    return { ...report, transport: transport.name };
  }
  // A transport of its own, built as `serve` builds it (through the guard), so that the check
  // touches neither the serving instance's breaker nor its health.
  const [built] = buildTransports(
    [transport],
    {
      server: undefined,
      poolSize: 1,
      connectTimeoutMs: timeouts.connectMs,
      greetingTimeoutMs: timeouts.greetingMs,
      socketTimeoutMs: timeouts.socketMs,
      sendTimeoutMs: timeouts.sendMs,
    },
    { clock: deps.clock, logger: deps.logger ?? silentLogger(), guard: deps.guard },
  );
  if (!built) throw new AppError('INTERNAL', `transport ${transport.name} could not be built`);
  try {
    return await checkProvider({
      ...common,
      transport,
      verify: () => built.verify(),
      timeouts: { connectMs: timeouts.connectMs, sendMs: timeouts.sendMs },
    });
  } finally {
    built.close();
  }
}

/** The record named `ref`: by id, else by name (exact, then ignoring case). */
function pick<R extends { id: string; settings: { name: string } }>(
  records: readonly R[],
  ref: string,
): R | undefined {
  return (
    records.find((r) => r.id === ref) ??
    records.find((r) => r.settings.name === ref) ??
    records.find((r) => r.settings.name.toLowerCase() === ref.toLowerCase())
  );
}

/** `doctor imap`: a configured mailbox by name or id. */
export async function doctorImap(
  deps: DoctorDeps,
  ref: string,
  onStage?: (stage: StageResult) => void,
): Promise<CheckReport> {
  const mailbox = pick(await deps.inbound.mailboxes.list(), ref);
  if (!mailbox)
    throw new AppError('NOT_FOUND', `no mailbox is named or has the id "${ref}"`, {
      details: { mailbox: ref },
    });
  return imapCheck(deps, mailbox, onStage);
}

function imapCheck(deps: DoctorDeps, mailbox: DoctorMailbox, onStage?: (stage: StageResult) => void) {
  const watchers = deps.live
    ? deps.inbound
        .statuses()
        .filter((s) => s.mailboxId === mailbox.id)
        .map((s): Facts => ({ ...s }))
    : undefined;
  return checkImap({
    mailbox,
    guard: deps.guard,
    clock: deps.clock,
    ...(watchers ? { watchers } : {}),
    ...(deps.ca ? { ca: deps.ca } : {}),
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(onStage ? { onStage } : {}),
  });
}

/** `doctor webhook`: an endpoint by name or id. */
export async function doctorWebhook(
  deps: DoctorDeps,
  ref: string,
  onStage?: (stage: StageResult) => void,
): Promise<CheckReport> {
  const endpoint = pick([...(await deps.webhooks.endpoints.all()).values()], ref);
  if (!endpoint)
    throw new AppError('NOT_FOUND', `no webhook endpoint is named or has the id "${ref}"`, {
      details: { endpoint: ref },
    });
  return webhookCheck(deps, endpoint, onStage);
}

function webhookCheck(deps: DoctorDeps, endpoint: Endpoint, onStage?: (stage: StageResult) => void) {
  return checkWebhook({
    endpoint,
    guard: deps.guard,
    clock: deps.clock,
    sendTest: (id) =>
      deps.webhooks.testEndpoint(id, {
        type: 'facteur.test',
        payload: { message: 'Test event from facteur doctor' },
        dryRun: false,
      }),
    ...(deps.ca ? { ca: deps.ca } : {}),
    ...(deps.lookup ? { lookup: deps.lookup } : {}),
    ...(onStage ? { onStage } : {}),
  });
}

/**
 * Every check of the configuration: each transport (SMTP ones through the smtp check, providers
 * through the provider check), each active mailbox, each active endpoint, one after the other.
 * `onCheck` is told before each check starts.
 */
export async function doctorAll(
  deps: DoctorDeps,
  hooks: { onCheck?: (check: string, target: string) => void; onStage?: (stage: StageResult) => void } = {},
): Promise<CheckReport[]> {
  const reports: CheckReport[] = [];
  for (const transport of deps.smtp.transports) {
    hooks.onCheck?.(...transportLabel(transport));
    reports.push(await transportCheck(deps, transport, hooks.onStage));
  }
  for (const mailbox of await deps.inbound.mailboxes.list()) {
    if (mailbox.status !== 'active') continue;
    hooks.onCheck?.('imap', mailbox.settings.name);
    reports.push(await imapCheck(deps, mailbox, hooks.onStage));
  }
  for (const endpoint of (await deps.webhooks.endpoints.all()).values()) {
    if (endpoint.status !== 'active') continue;
    hooks.onCheck?.('webhook', endpoint.settings.name);
    reports.push(await webhookCheck(deps, endpoint, hooks.onStage));
  }
  return reports;
}

/** How a transport's check is announced: the check, and its target with the transport's name. */
export function transportLabel(transport: TransportConfig): [string, string] {
  const named = (target: string, kind: string) =>
    transport.name === kind ? target : `${target} (transport ${transport.name})`;
  if (transport.kind === 'smtp') {
    const { server } = transport;
    const host = server.host.includes(':') ? `[${server.host}]` : server.host;
    return ['smtp', named(`${server.secure ? 'smtps' : 'smtp'}://${host}:${server.port}`, 'smtp')];
  }
  return [transport.kind, named(transport.apiBase, transport.kind)];
}
