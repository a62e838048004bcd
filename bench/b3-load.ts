import { Agent, type ClientRequest, request } from 'node:http';
import { onParentMessage, report } from './lib/child.js';
import { percentile } from './lib/stats.js';

/**
 * B3's paced load generator (open loop). Requests are scheduled at exact, evenly spaced times
 * (`rate` per second) whatever the server does, and each latency is measured from its scheduled
 * time to the end of the response, so queueing behind a slow answer counts (no coordinated
 * omission). autocannon's `overallRate` instead gives each connection a per-second budget that it
 * spends back to back at the start of every second, which measures bursts, not a steady pace.
 * Runs as a long-lived child: each `LoadSpec` read on stdin is answered with one `LoadResult`.
 */

/** What to send. */
export interface LoadSpec {
  url: string;
  key: string;
  body: string;
  rate: number;
  durationS: number;
  connections: number;
}

/** What happened. */
export interface LoadResult {
  scheduled: number;
  ok: number;
  failed: number;
  /** 2xx answers completed inside the scheduling window, per second. */
  achievedRate: number;
  /**
   * Milliseconds from scheduled send to response end over every scheduled request; requests
   * still unanswered when the generator gives up count with their age at that moment (so with
   * `unanswered > 0` the percentiles are lower bounds).
   */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Requests unanswered `DRAIN_MS` after the window; they are aborted, never sent if still queued. */
  unanswered: number;
}

/** How long to wait for answers after the last scheduled send. */
const DRAIN_MS = 1500;

async function run(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.url);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(spec.body)),
    authorization: `Bearer ${spec.key}`,
  };
  const total = Math.round(spec.rate * spec.durationS);
  const intervalMs = 1000 / spec.rate;
  const latencies = new Float64Array(total);
  const outstanding = new Map<ClientRequest, number>();
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let okInWindow = 0;
  let closed = false;
  const start = performance.now();
  const windowEnd = start + spec.durationS * 1000;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    allDone = resolve;
  });

  const settle = (req: ClientRequest, success: boolean): void => {
    const scheduledAt = outstanding.get(req);
    if (closed || scheduledAt === undefined) return;
    outstanding.delete(req);
    const now = performance.now();
    latencies[ok + failed] = now - scheduledAt;
    if (success) {
      ok++;
      if (now <= windowEnd) okInWindow++;
    } else failed++;
    if (ok + failed === total) allDone();
  };

  const send = (scheduledAt: number): void => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers },
      (res) => {
        const success = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        res.on('end', () => settle(req, success));
        res.on('error', () => settle(req, false));
        res.resume();
      },
    );
    outstanding.set(req, scheduledAt);
    req.on('error', () => settle(req, false));
    req.end(spec.body);
  };

  // Spins with setImmediate (the generator owns its core) so that sends leave on time.
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (sent < due) send(start + intervalMs * sent++);
      if (sent < total) setImmediate(tick);
      else resolve();
    };
    tick();
  });
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, DRAIN_MS))]);
  // Abort what is left, including requests still queued in the agent: otherwise the agent keeps
  // sending them on new sockets and loads the server during the next phase.
  closed = true;
  const givenUpAt = performance.now();
  let answered = ok + failed;
  for (const [req, scheduledAt] of outstanding) {
    latencies[answered++] = givenUpAt - scheduledAt;
    req.destroy();
  }
  agent.destroy();
  const sorted = latencies.subarray(0, answered).sort();
  return {
    scheduled: total,
    ok,
    failed,
    achievedRate: okInWindow / spec.durationS,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted[answered - 1] ?? 0,
    unanswered: outstanding.size,
  };
}

onParentMessage(async (message) => {
  report(await run(message as LoadSpec));
});
report({ ready: true });
