import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENDPOINTS, type Fault, type ReceiverTally, STALL_MS } from './b5-shared.js';

/**
 * B5's webhook receiver: raw node:http servers (keep-alive) answering `200 {"success":true}` on
 * /e1 .. /e20, counting requests and distinct webhook-ids per path and noting arrival times.
 * Each path can be told to answer 500 or to stall `STALL_MS` before answering 200.
 * By default every endpoint has its own port (20 endpoints are 20 receivers, as in real use,
 * each with its own connection pool in Facteur's HTTP client); `single` serves every path on one.
 * `/flaky` (on the first port) fails some attempts of some events: see `flakyFailures`.
 */

const OK_BODY = '{"success":true}';
const ERROR_BODY = '{"success":false,"error":"bench: told to fail"}';

export class Receiver {
  private readonly servers: Server[] = [];
  readonly ports: number[] = [];
  private readonly faults: Fault[] = new Array(ENDPOINTS).fill('ok');
  private tally = emptyTally();
  private seen: Array<Set<string>> = [];
  /** webhook-id -> arrival (epoch ms, sub-ms precision), while latency is being recorded. */
  arrivals: Map<string, number> | undefined;
  private expected: number[] | undefined;
  private remaining = 0;
  private onComplete: (() => void) | undefined;
  /** /flaky: attempts seen per webhook-id, and the answers given. */
  readonly flaky = { attempts: new Map<string, number>(), ok: 0, failed: 0 };

  /** Starts `ports` servers (1 or ENDPOINTS). */
  async start(ports: number): Promise<void> {
    for (let i = 0; i < ports; i++) {
      const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) =>
        this.handle(req, res),
      );
      server.headersTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.servers.push(server);
      this.ports.push((server.address() as AddressInfo).port);
    }
    this.reset();
  }

  /** URL of endpoint `index` (0-based). */
  url(index: number): string {
    if (index < 0) return `http://127.0.0.1:${this.ports[0]}/flaky`;
    const port = this.ports[this.ports.length === 1 ? 0 : index] as number;
    return `http://127.0.0.1:${port}/e${index + 1}`;
  }

  setFault(index: number, fault: Fault): void {
    this.faults[index] = fault;
  }

  clearFaults(): void {
    this.faults.fill('ok');
  }

  /** Starts a new tally (arrivals are kept only if `trackArrivals`). */
  reset(trackArrivals = false): void {
    this.tally = emptyTally();
    this.seen = Array.from({ length: ENDPOINTS }, () => new Set<string>());
    this.arrivals = trackArrivals ? new Map() : undefined;
    this.expected = undefined;
    this.onComplete = undefined;
  }

  snapshot(): ReceiverTally {
    return structuredClone(this.tally);
  }

  /**
   * Resolves once each endpoint `i` with `expected[i] > 0` has answered that many distinct
   * webhook-ids with 2xx (or after `timeoutMs`: then false).
   */
  waitFor(expected: number[], timeoutMs: number): Promise<boolean> {
    this.expected = expected;
    this.remaining = expected.filter((n, i) => n > 0 && (this.seen[i]?.size ?? 0) < n).length;
    if (this.remaining === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.onComplete = undefined;
        resolve(false);
      }, timeoutMs);
      this.onComplete = () => {
        clearTimeout(timer);
        this.onComplete = undefined;
        resolve(true);
      };
    });
  }

  async close(): Promise<void> {
    for (const server of this.servers) server.closeAllConnections();
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const arrivedAt = performance.timeOrigin + performance.now();
    if (req.url === '/flaky') {
      this.handleFlaky(req, res);
      return;
    }
    const index = Number(req.url?.slice(2)) - 1;
    if (!(index >= 0 && index < ENDPOINTS)) {
      res.writeHead(404).end();
      return;
    }
    const id = req.headers['webhook-id'];
    const webhookId = typeof id === 'string' ? id : '';
    if (this.arrivals && !this.arrivals.has(webhookId)) this.arrivals.set(webhookId, arrivedAt);
    (this.tally.requests[index] as number)++;
    const fault = this.faults[index];
    req.resume();
    req.on('end', () => {
      if (fault === 'error') {
        res.writeHead(500, { 'content-type': 'application/json', 'content-length': ERROR_BODY.length });
        res.end(ERROR_BODY);
        return;
      }
      const answer = (): void => {
        this.count(index, webhookId, arrivedAt);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': OK_BODY.length });
        res.end(OK_BODY);
      };
      if (fault === 'stall') setTimeout(answer, STALL_MS);
      else answer();
    });
  }

  private handleFlaky(req: IncomingMessage, res: ServerResponse): void {
    const id = String(req.headers['webhook-id'] ?? '');
    const attempt = (this.flaky.attempts.get(id) ?? 0) + 1;
    this.flaky.attempts.set(id, attempt);
    req.resume();
    req.on('end', () => {
      const fail = attempt <= flakyFailures(id);
      if (fail) this.flaky.failed++;
      else this.flaky.ok++;
      const body = fail ? ERROR_BODY : OK_BODY;
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  }

  private count(index: number, webhookId: string, arrivedAt: number): void {
    const seen = this.seen[index] as Set<string>;
    if (seen.has(webhookId)) {
      (this.tally.duplicates[index] as number)++;
      return;
    }
    seen.add(webhookId);
    this.tally.unique[index] = seen.size;
    if (arrivedAt > (this.tally.lastArrivalAt[index] as number)) this.tally.lastArrivalAt[index] = arrivedAt;
    if (this.tally.firstArrivalAt === 0 || arrivedAt < this.tally.firstArrivalAt)
      this.tally.firstArrivalAt = arrivedAt;
    const expected = this.expected?.[index] ?? 0;
    if (expected > 0 && seen.size === expected) {
      this.remaining--;
      if (this.remaining === 0) this.onComplete?.();
    }
  }
}

/**
 * How many first attempts of event `id` /flaky fails: 10% of events fail at least once, 1.5%
 * twice and 0.5% three times (then succeed), so retries after 1, 2 and 4 s all happen. Repeat
 * failures are kept rare because retries that come due together run back to back, and five
 * failures in a row would open the endpoint's circuit breaker.
 */
export function flakyFailures(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  const bucket = (hash >>> 0) % 1000;
  return bucket < 5 ? 3 : bucket < 20 ? 2 : bucket < 100 ? 1 : 0;
}

function emptyTally(): ReceiverTally {
  return {
    requests: new Array(ENDPOINTS).fill(0),
    unique: new Array(ENDPOINTS).fill(0),
    duplicates: new Array(ENDPOINTS).fill(0),
    lastArrivalAt: new Array(ENDPOINTS).fill(0),
    firstArrivalAt: 0,
  };
}
