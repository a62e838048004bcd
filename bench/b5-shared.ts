import type { HeldReport } from './b5-held.js';

/**
 * What B5's processes share: the endpoint layout, the event payloads (~300 bytes of JSON) and
 * the messages the orchestrator exchanges with the driver (receiver, publisher, pacer on core 1).
 */

/** Endpoints (and receiver paths /e1 .. /e20). */
export const ENDPOINTS = 20;
/** Per-endpoint `concurrency` set on every endpoint. */
export const ENDPOINT_CONCURRENCY = 10;
/** Endpoints (0-based) that answer 500 / stall in the fault run. */
export const ERROR_ENDPOINTS = [0, 1];
export const STALL_ENDPOINTS = [2, 3];
/** How long a stalling endpoint waits before answering. */
export const STALL_MS = 2000;
/** Retry schedule PATCHed onto the endpoints that answer 500 in the fault run. */
export const FAULT_RETRY_SCHEDULE = ['1s', '2s', '4s'] as const;
export const FAULT_RETRY_SCHEDULE_MS = [1000, 2000, 4000] as const;

/** Event number `seq` goes to endpoint `seq % ENDPOINTS` (0-based), type `bench.e<n+1>`. */
export function endpointOf(seq: number): number {
  return seq % ENDPOINTS;
}

export function eventType(endpoint: number): string {
  return `bench.e${endpoint + 1}`;
}

const NOTE_FILLER = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor';

/** The event data of event `seq`: an order-like object of about 300 bytes of JSON. */
export function payloadFor(seq: number): Record<string, unknown> {
  return {
    seq,
    order: {
      id: `ord_${String(seq).padStart(9, '0')}`,
      amount: 4999 + (seq % 100),
      currency: 'EUR',
      customer: { id: `cus_${(seq * 7919) % 100_000}`, email: `customer${seq % 1000}@example.com` },
      items: [
        { sku: 'SKU-12345', qty: 2, price: 1999 },
        { sku: 'SKU-67890', qty: 1, price: 999 },
      ],
    },
    note: NOTE_FILLER,
  };
}

/** The body Facteur sends for an event (its default `envelope` shape), which the baseline sends too. */
export function envelopeFor(seq: number, createdAt: number): string {
  return JSON.stringify({
    type: eventType(endpointOf(seq)),
    timestamp: new Date(createdAt).toISOString(),
    data: payloadFor(seq),
  });
}

/** What a receiver path does with requests. */
export type Fault = 'ok' | 'error' | 'stall';

/** The receiver's tally for one run (since its last `reset`). */
export interface ReceiverTally {
  /** Requests per endpoint (any answer). */
  requests: number[];
  /** Distinct webhook-ids answered 2xx per endpoint. */
  unique: number[];
  /** 2xx answers beyond the first for the same webhook-id, per endpoint. */
  duplicates: number[];
  /** Epoch ms (driver clock) of the last 2xx-answered request per endpoint; 0 when none. */
  lastArrivalAt: number[];
  firstArrivalAt: number;
}

/** Driver's answer to a measured drain (pause, publish, resume, wait). */
export interface DrainResult {
  published: number;
  publishedPerEndpoint: number[];
  publishSeconds: number;
  publishRate: number;
  publishFailures: number;
  /** Epoch ms just before the resume requests went out. */
  resumedAt: number;
  /** Epoch ms at which the receiver had every expected event (of the endpoints waited for). */
  receivedAt: number;
  /** Epoch ms at which the database first showed no open delivery (when waited for). */
  recordedAt: number | null;
  /** Latest `finished_at` of a delivery in the database (Facteur's clock), when waited for. */
  lastFinishedAt: number | null;
  tally: ReceiverTally;
  timedOut: boolean;
  /** Deliveries Facteur held again after the resume (a defect; the driver resumed again). */
  heldAfterResume?: HeldReport;
}

/** Publishing at a steady pace with the endpoints active. */
export interface LatencyResult {
  rate: number;
  sent: number;
  failed: number;
  missing: number;
  /** Receiver arrival minus the time the POST was sent. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** POST /api/events answer time (from sent). */
  acceptP50Ms: number;
  acceptP99Ms: number;
  /** Receiver arrival minus the time the 202 answer came back (negative: delivered before the answer). */
  afterAnswerP50Ms: number;
  afterAnswerP99Ms: number;
}
