import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { difficultMessages } from '../../test/support/difficult-mail.js';
import { AppError } from '../core/errors.js';
import { parseEmail } from './parse.js';
import { ParsePool } from './parse-pool.js';
import type { ParseWorkerData } from './parse-worker.js';

// Starting a worker compiles the TypeScript sources through tsx: allow for it.
const WORKER_TEST_TIMEOUT_MS = 60_000;

// A worker that dies of an uncaught exception as soon as it is given a message to parse.
const CRASH_ON_FIRST_MESSAGE = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', () => { throw new Error('simulated worker crash'); });
`;

/** How many of the next workers a CrashingPool starts are crashing ones (module-level: read during super()). */
let crashingWorkersToStart = 0;

class CrashingPool extends ParsePool {
  protected override createWorker(workerData: ParseWorkerData): Worker {
    if (crashingWorkersToStart === 0) return super.createWorker(workerData);
    crashingWorkersToStart--;
    return new Worker(CRASH_ON_FIRST_MESSAGE, { eval: true });
  }
}

const pools: ParsePool[] = [];
function openPool(pool: ParsePool): ParsePool {
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

describe('ParsePool', () => {
  it(
    'gives the same result as parseEmail on the main thread, for the whole corpus',
    async () => {
      const pool = openPool(new ParsePool({ workers: 2, limits: { maxHtmlBytes: 512 * 1024 } }));
      const corpus = difficultMessages();
      // Copies go to the pool: it may move a buffer's memory to the worker.
      const results = await Promise.all(corpus.map((message) => pool.parse(Buffer.from(message.raw))));
      for (const [index, message] of corpus.entries()) {
        const expected = await parseEmail(message.raw, { maxHtmlBytes: 512 * 1024 });
        expect(results[index], message.name).toEqual(expected);
      }
      expect(results.find((email) => email.subject === 'A 1 MB HTML body on one line')?.truncated).toContain(
        'html',
      );
    },
    WORKER_TEST_TIMEOUT_MS,
  );

  it(
    'moves a buffer that owns its memory and leaves a shared one intact',
    async () => {
      const pool = openPool(new ParsePool({ workers: 1 }));
      const [message] = difficultMessages();
      const owned = Buffer.alloc(message?.raw.length ?? 0);
      message?.raw.copy(owned);
      const shared = Buffer.from('Subject: small\r\n\r\nbody');
      const [fromOwned, fromShared] = await Promise.all([pool.parse(owned), pool.parse(shared)]);
      expect(fromOwned.subject).toBe(message?.expect.subject);
      expect(owned.length).toBe(0);
      expect(fromShared.subject).toBe('small');
      expect(shared.toString()).toContain('Subject: small');
    },
    WORKER_TEST_TIMEOUT_MS,
  );

  it(
    'reports a parse failure in the worker as INBOUND_PARSE_FAILED with its message',
    async () => {
      const pool = openPool(new ParsePool({ workers: 1 }));
      const oversized = Buffer.from(`X-Huge: ${'a'.repeat(1_100_000)}\r\nSubject: too big\r\n\r\nbody`);
      const failure = await pool.parse(oversized).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AppError);
      expect((failure as AppError).code).toBe('INBOUND_PARSE_FAILED');
      expect((failure as AppError).message).toMatch(/header size/i);
      expect((await pool.parse(Buffer.from('Subject: next\r\n\r\nok'))).subject).toBe('next');
    },
    WORKER_TEST_TIMEOUT_MS,
  );

  it(
    'survives a worker crash: the message in flight fails, the worker is replaced',
    async () => {
      crashingWorkersToStart = 1;
      const pool = openPool(new CrashingPool({ workers: 1 }));
      const failure = await pool
        .parse(Buffer.from('Subject: first\r\n\r\nbody'))
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AppError);
      expect((failure as AppError).code).toBe('INBOUND_PARSE_FAILED');
      expect((failure as AppError).message).toContain('simulated worker crash');
      const next = await pool.parse(Buffer.from('Subject: after the crash\r\n\r\nbody'));
      expect(next.subject).toBe('after the crash');
    },
    WORKER_TEST_TIMEOUT_MS,
  );

  it(
    'lets the parses in flight finish on close, then refuses new ones',
    async () => {
      const pool = new ParsePool({ workers: 1 });
      const inFlight = pool.parse(Buffer.from('Subject: in flight\r\n\r\nbody'));
      await expect(pool.close()).resolves.toBeUndefined();
      await expect(inFlight).resolves.toMatchObject({ subject: 'in flight' });
      const refused = await pool
        .parse(Buffer.from('Subject: late\r\n\r\nbody'))
        .catch((error: unknown) => error);
      expect((refused as AppError).code).toBe('SHUTTING_DOWN');
      await expect(pool.close()).resolves.toBeUndefined();
    },
    WORKER_TEST_TIMEOUT_MS,
  );

  it('parses on the main thread with 0 workers', async () => {
    const pool = openPool(new ParsePool({ workers: 0, limits: { maxTextBytes: 4 } }));
    const email = await pool.parse(Buffer.from('Subject: main thread\r\n\r\nbody text'));
    expect(email.subject).toBe('main thread');
    expect(email.text).toBe('body');
    expect(email.truncated).toEqual(['text']);
  });
});
