import type { Receiver } from './b5-receiver.js';
import { ENDPOINTS, endpointOf, eventType, type LatencyResult, payloadFor } from './b5-shared.js';
import { FacteurClient } from './lib/api.js';
import { percentile } from './lib/stats.js';

/**
 * B5's client of Facteur's API (in the driver, core 1): endpoints, pause/resume, publishing
 * many events as fast as Facteur accepts them, and publishing at a steady pace for latency.
 */

const now = (): number => performance.timeOrigin + performance.now();

export class FacteurApi extends FacteurClient {
  constructor(url: string, key: string) {
    super(url, key, 64);
  }

  /** Creates the 20 endpoints, endpoint i subscribed to `bench.e<i+1>` only; returns their ids. */
  async createEndpoints(urls: string[], concurrency: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < ENDPOINTS; i++) {
      const created = await this.call<{ id: string }>(
        'POST',
        '/endpoints',
        {
          name: `e${i + 1}`,
          url: urls[i],
          eventTypes: [eventType(i)],
          concurrency,
        },
        201,
      );
      ids.push(created.id);
    }
    return ids;
  }

  async setStatus(ids: readonly string[], action: 'pause' | 'resume'): Promise<void> {
    await Promise.all(ids.map((id) => this.call('POST', `/endpoints/${id}/${action}`)));
  }

  async patch(id: string, body: unknown): Promise<void> {
    await this.call('PATCH', `/endpoints/${id}`, body);
  }

  private publishOne(seq: number): Promise<{ id: string }> {
    return this.call<{ id: string }>(
      'POST',
      '/events',
      { type: eventType(endpointOf(seq)), payload: payloadFor(seq) },
      202,
    );
  }

  /** Publishes events `first .. first+count-1` with `inFlight` requests at a time. */
  async publishMany(
    first: number,
    count: number,
    inFlight = 64,
  ): Promise<{ published: number[]; failures: number; seconds: number }> {
    const published = new Array(ENDPOINTS).fill(0);
    let next = first;
    let failures = 0;
    let lastError: unknown;
    const started = performance.now();
    const worker = async (): Promise<void> => {
      while (next < first + count) {
        const seq = next++;
        try {
          await this.publishOne(seq);
          published[endpointOf(seq)]++;
        } catch (error) {
          failures++;
          lastError = error;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    if (failures > 0) process.stderr.write(`publish: ${failures} failures, last: ${String(lastError)}\n`);
    return { published, failures, seconds: (performance.now() - started) / 1000 };
  }

  /** Publishes events of `type` at about `rate` per second for `seconds` (timer-paced); returns how many were accepted. */
  async publishPaced(type: string, rate: number, seconds: number): Promise<number> {
    const total = Math.round(rate * seconds);
    const start = performance.now();
    const pending: Array<Promise<boolean>> = [];
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(
        this.call('POST', '/events', { type, payload: payloadFor(i) }, 202).then(
          () => true,
          () => false,
        ),
      );
    }
    return (await Promise.all(pending)).filter(Boolean).length;
  }

  /**
   * Publishes at `rate` per second for `seconds` (open loop: sends leave at their scheduled
   * times whatever the answers), endpoints active, and measures from each send to the arrival
   * of its webhook at `receiver` (same process, same clock).
   */
  async paced(receiver: Receiver, first: number, rate: number, seconds: number): Promise<LatencyResult> {
    receiver.reset(true);
    const total = Math.round(rate * seconds);
    const intervalMs = 1000 / rate;
    const sent: Array<{ id: string; sentAt: number; answeredAt: number } | undefined> = new Array(total);
    let failed = 0;
    let settled = 0;
    const start = now();
    let count = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor((now() - start) / intervalMs) + 1);
        while (count < due) {
          const index = count++;
          const sentAt = now();
          this.publishOne(first + index).then(
            ({ id }) => {
              sent[index] = { id, sentAt, answeredAt: now() };
              if (++settled === total) resolve();
            },
            () => {
              failed++;
              if (++settled === total) resolve();
            },
          );
        }
        if (count < total) setImmediate(tick);
      };
      tick();
    });
    // Let the last webhooks arrive.
    const arrivals = receiver.arrivals as Map<string, number>;
    const deadline = now() + 10_000;
    while (now() < deadline && sent.some((s) => s && !arrivals.has(s.id)))
      await new Promise((resolve) => setTimeout(resolve, 20));
    const dispatch: number[] = [];
    const accept: number[] = [];
    const afterAnswer: number[] = [];
    let missing = 0;
    for (const s of sent) {
      if (!s) continue;
      accept.push(s.answeredAt - s.sentAt);
      const arrivedAt = arrivals.get(s.id);
      if (arrivedAt === undefined) {
        missing++;
        continue;
      }
      dispatch.push(arrivedAt - s.sentAt);
      afterAnswer.push(arrivedAt - s.answeredAt);
    }
    const sorted = (values: number[]) => Float64Array.from(values).sort();
    const d = sorted(dispatch);
    const a = sorted(accept);
    const r = sorted(afterAnswer);
    return {
      rate,
      sent: total,
      failed,
      missing,
      p50Ms: percentile(d, 0.5),
      p99Ms: percentile(d, 0.99),
      maxMs: d.length > 0 ? (d[d.length - 1] as number) : Number.NaN,
      acceptP50Ms: percentile(a, 0.5),
      acceptP99Ms: percentile(a, 0.99),
      afterAnswerP50Ms: percentile(r, 0.5),
      afterAnswerP99Ms: percentile(r, 0.99),
    };
  }
}
