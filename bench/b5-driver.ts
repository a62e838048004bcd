import type SqliteDatabase from 'better-sqlite3';
import {
  checkDeliveries,
  checkEvents,
  openReadOnly,
  retryPunctuality,
  SchedulePoller,
  waitAllFinal,
} from './b5-db.js';
import { HeldWatcher } from './b5-held.js';
import { FacteurApi } from './b5-load.js';
import { Receiver } from './b5-receiver.js';
import {
  type DrainResult,
  ENDPOINT_CONCURRENCY,
  ENDPOINTS,
  FAULT_RETRY_SCHEDULE,
  FAULT_RETRY_SCHEDULE_MS,
} from './b5-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B5's driver, pinned to core 1 by the parent: the webhook receiver, Facteur's API client
 * (endpoints, publishing, paced publishing) and the reads of Facteur's SQLite file, all in one
 * process so that send times and arrival times come from the same clock. One command per line
 * on stdin, one answer each. Usage: b5-driver.ts <per-endpoint|single>
 */

const now = (): number => performance.timeOrigin + performance.now();

const receiver = new Receiver();
const monitor = new UsageMonitor();
let api: FacteurApi | undefined;
let db: SqliteDatabase.Database | undefined;
let endpointIds: string[] = [];
/** Events published per endpoint by the last `publish`. */
let published: number[] = new Array(ENDPOINTS).fill(0);
let publishInfo = { seconds: 0, failures: 0 };
let nextSeq = 0;
/** Fault run: 0-based endpoint indexes. */
let errorEndpoints: number[] = [];
let stallEndpoints: number[] = [];

const ids = (indexes: number[]): string[] => indexes.map((i) => endpointIds[i] as string);
const healthyIndexes = (): number[] =>
  [...Array(ENDPOINTS).keys()].filter((i) => !errorEndpoints.includes(i) && !stallEndpoints.includes(i));

type Command =
  | { cmd: 'setup'; url: string; key: string; dbPath: string }
  | { cmd: 'warmup'; events: number }
  | { cmd: 'faults'; error: number[]; stall: number[] }
  | { cmd: 'publish'; events: number }
  | { cmd: 'deliver'; timeoutMs: number }
  | { cmd: 'deliver-fault'; timeoutMs: number; tailMs: number }
  | { cmd: 'latency'; rate: number; seconds: number }
  | { cmd: 'reset' }
  | { cmd: 'tally' }
  | { cmd: 'usage' }
  | { cmd: 'teardown' };

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'setup': {
      await teardown();
      api = new FacteurApi(command.url, command.key);
      db = openReadOnly(command.dbPath);
      receiver.clearFaults();
      errorEndpoints = [];
      stallEndpoints = [];
      const urls = Array.from({ length: ENDPOINTS }, (_, i) => receiver.url(i));
      endpointIds = await api.createEndpoints(urls, ENDPOINT_CONCURRENCY);
      return { endpointIds };
    }
    case 'warmup': {
      // Endpoints active: published events are delivered at once; wait for all of them.
      receiver.reset();
      const result = await need(api).publishMany(nextSeq, command.events, 32);
      nextSeq += command.events;
      const received = await receiver.waitFor(result.published, 60_000);
      const recordedAt = await waitAllFinal(need(db), 60_000);
      return { received, recorded: recordedAt !== null, ...result };
    }
    case 'faults': {
      errorEndpoints = command.error;
      stallEndpoints = command.stall;
      for (const i of errorEndpoints) {
        receiver.setFault(i, 'error');
        await need(api).patch(endpointIds[i] as string, { retrySchedule: [...FAULT_RETRY_SCHEDULE] });
      }
      for (const i of stallEndpoints) receiver.setFault(i, 'stall');
      return { ok: true };
    }
    case 'publish': {
      await need(api).setStatus(endpointIds, 'pause');
      const result = await need(api).publishMany(nextSeq, command.events);
      nextSeq += command.events;
      published = result.published;
      publishInfo = { seconds: result.seconds, failures: result.failures };
      const publishedTotal = published.reduce((a, b) => a + b, 0);
      return { published: publishedTotal, seconds: result.seconds, failures: result.failures };
    }
    case 'deliver':
      return deliver(command.timeoutMs);
    case 'deliver-fault':
      return deliverFault(command.timeoutMs, command.tailMs);
    case 'latency':
      await need(api).setStatus(endpointIds, 'resume');
      await new Promise((resolve) => setTimeout(resolve, 200));
      nextSeq += 1_000_000;
      return need(api).paced(receiver, nextSeq, command.rate, command.seconds);
    case 'reset':
      receiver.reset();
      return { ok: true };
    case 'tally':
      return receiver.snapshot();
    case 'usage':
      return monitor.snapshot();
    case 'teardown':
      await teardown();
      return { usage: monitor.snapshot() };
  }
}

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('b5-driver: setup first');
  return value;
}

async function teardown(): Promise<void> {
  await api?.close();
  db?.close();
  api = undefined;
  db = undefined;
}

function drainResult(resumedAt: number, receivedAt: number, recordedAt: number | null, timedOut: boolean) {
  const total = published.reduce((a, b) => a + b, 0);
  const result: DrainResult = {
    published: total,
    publishedPerEndpoint: [...published],
    publishSeconds: publishInfo.seconds,
    publishRate: total / publishInfo.seconds,
    publishFailures: publishInfo.failures,
    resumedAt,
    receivedAt,
    recordedAt,
    lastFinishedAt: null,
    tally: receiver.snapshot(),
    timedOut,
  };
  return result;
}

/** Clean run: resume every endpoint, wait until the receiver has every event and the database shows every delivery final. */
async function deliver(timeoutMs: number): Promise<unknown> {
  receiver.reset();
  const resumedAt = now();
  const wait = receiver.waitFor(published, timeoutMs);
  const held = watchHeld(resumedAt);
  await need(api).setStatus(endpointIds, 'resume');
  const received = await wait;
  const receivedAt = Math.max(...receiver.snapshot().lastArrivalAt);
  const recordedAt = await waitAllFinal(need(db), timeoutMs);
  const heldAfterResume = held.stop();
  const result = drainResult(resumedAt, receivedAt, recordedAt, !received || recordedAt === null);
  const check = checkDeliveries(need(db), endpointIds);
  result.lastFinishedAt = check.lastFinishedAt;
  return { ...result, check, events: checkEvents(need(db)), heldAfterResume };
}

/** Resumes again any endpoint whose deliveries Facteur holds after the resume (see b5-held.ts). */
function watchHeld(resumedAt: number): HeldWatcher {
  return new HeldWatcher(need(db), resumedAt, (id) => need(api).setStatus([id], 'resume'));
}

/**
 * Fault run: resume every endpoint with the faults on; wait until the healthy endpoints have
 * every event (their throughput window); then stop the stalls so the stalling endpoints drain,
 * and wait up to `tailMs` more for the failing endpoints' deliveries to become final.
 */
async function deliverFault(timeoutMs: number, tailMs: number): Promise<unknown> {
  receiver.reset();
  const healthy = healthyIndexes();
  const expectedHealthy = published.map((n, i) => (healthy.includes(i) ? n : 0));
  const poller = new SchedulePoller(need(db), ids(errorEndpoints));
  poller.start(100);
  const resumedAt = now();
  const wait = receiver.waitFor(expectedHealthy, timeoutMs);
  const held = watchHeld(resumedAt);
  await need(api).setStatus(endpointIds, 'resume');
  const healthyReceived = await wait;
  const atHealthyDone = receiver.snapshot();
  const healthyReceivedAt = Math.max(...healthy.map((i) => atHealthyDone.lastArrivalAt[i] as number));
  // The window is over: stalling endpoints answer at once from now on, so the run can end.
  for (const i of stallEndpoints) receiver.setFault(i, 'ok');
  const stallExpected = published.map((n, i) => (stallEndpoints.includes(i) ? n : 0));
  const stallReceived = await receiver.waitFor(stallExpected, timeoutMs);
  // Failing endpoints: their deliveries end `dead` after the last retry, unless held back.
  const tailStart = now();
  const deadline = tailStart + tailMs;
  const probe = await retryProbe(100, 10, 30_000);
  let open = Number.POSITIVE_INFINITY;
  while (now() < deadline) {
    open = checkDeliveries(need(db), endpointIds).byStatus.pending ?? 0;
    if (open === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  poller.stop();
  const heldAfterResume = held.stop();
  const endedAt = now();
  const punctuality = retryPunctuality(need(db), ids(errorEndpoints), poller, FAULT_RETRY_SCHEDULE_MS);
  const result = drainResult(resumedAt, healthyReceivedAt, null, !healthyReceived || !stallReceived);
  return {
    ...result,
    healthyReceivedAt,
    healthyTally: atHealthyDone,
    endedAt,
    tailSeconds: (endedAt - tailStart) / 1000,
    polls: poller.polls,
    checks: {
      healthy: checkDeliveries(need(db), ids(healthy)),
      stall: checkDeliveries(need(db), ids(stallEndpoints)),
      error: checkDeliveries(need(db), ids(errorEndpoints)),
    },
    events: checkEvents(need(db)),
    punctuality,
    probe,
    heldAfterResume,
  };
}

/**
 * Retry scheduling where the circuit breaker stays closed: a `flaky` endpoint (retrySchedule
 * 1s,2s,4s) that fails some attempts of 10% of its events (see `flakyFailures`), fed at `rate`
 * events/s for `seconds` while the fault run's failing endpoints wait; punctuality of every retry.
 */
async function retryProbe(rate: number, seconds: number, timeoutMs: number) {
  const flaky = await need(api).call<{ id: string }>(
    'POST',
    '/endpoints',
    {
      name: 'flaky',
      url: receiver.url(-1),
      eventTypes: ['bench.flaky'],
      concurrency: ENDPOINT_CONCURRENCY,
      retrySchedule: [...FAULT_RETRY_SCHEDULE],
    },
    201,
  );
  const poller = new SchedulePoller(need(db), [flaky.id]);
  poller.start(50);
  const publishedEvents = await need(api).publishPaced('bench.flaky', rate, seconds);
  const deadline = now() + timeoutMs;
  let check = checkDeliveries(need(db), [flaky.id]);
  while (now() < deadline && (check.byStatus.succeeded ?? 0) + (check.byStatus.dead ?? 0) < publishedEvents) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    check = checkDeliveries(need(db), [flaky.id]);
  }
  poller.stop();
  return {
    published: publishedEvents,
    answered: { ok: receiver.flaky.ok, failed: receiver.flaky.failed },
    check,
    punctuality: retryPunctuality(need(db), [flaky.id], poller, FAULT_RETRY_SCHEDULE_MS),
  };
}

async function main(): Promise<void> {
  await receiver.start(process.argv[2] === 'single' ? 1 : ENDPOINTS);
  report({ ports: receiver.ports });
  onParentMessage(async (message) => {
    report(await handle(message as Command));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
