import { parentPort, workerData } from 'node:worker_threads';
import type { InboundEmail } from '../core/inbound-email.js';
import { type ParseLimits, parseEmail } from './parse.js';

/**
 * The thread side of `ParsePool`: parses each raw message it is sent and answers with the
 * `InboundEmail` or the error message. Parsing (charset decoding, HTML rendering) is CPU work
 * that would otherwise stall the event loop of the process serving HTTP and running jobs.
 */

/** What the pool sends: a message to parse, its bytes moved (not copied) when possible. */
export interface ParseRequest {
  id: number;
  raw: Uint8Array;
}

/** What the worker answers, matched to its request by `id`. */
export type ParseResponse =
  | { id: number; ok: true; email: InboundEmail }
  | { id: number; ok: false; message: string };

/** What the pool passes when it starts the thread. */
export interface ParseWorkerData {
  limits: Partial<ParseLimits>;
}

const { limits } = workerData as ParseWorkerData;

async function answer(request: ParseRequest): Promise<ParseResponse> {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  try {
    return { id: request.id, ok: true, email: await parseEmail(raw, limits) };
  } catch (error) {
    return { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.on('message', (request: ParseRequest) => {
  void answer(request).then((response) => parentPort?.postMessage(response));
});
