import type { Timer } from '../clock.js';
import type { QueueDefinition } from './contract.js';
import type { KeySlots } from './key-slots.js';
import type { Job } from './model.js';

/** What the engine keeps per queue and per running job (claimer.ts, settlements.ts, maintenance.ts). */

/** A registered queue and what this process runs of it. */
export interface QueueState {
  // biome-ignore lint/suspicious/noExplicitAny: definitions of every payload type live in one map
  def: QueueDefinition<any>;
  active: number;
  slots: KeySlots;
  pumping: boolean;
  /** A pump is scheduled for the next turn (finished jobs of one settlement batch share it). */
  pumpScheduled?: boolean;
  /** A settlement's transaction claims for this queue now (`claimInSettlement`): pumps wait. */
  settlementClaim?: boolean;
  again: boolean;
  maybeDue: boolean;
  dueTimer: Timer | undefined;
  dueAt: number | undefined;
  failures: number;
  /** The next claim after a failed one (real time: it waits for the database, not for work). */
  retryTimer?: Timer;
}

/** A job this process runs. */
export interface RunningJob {
  job: Job;
  queue: QueueState;
  controller: AbortController;
  claimedAt: number;
  /** The slot was given back (settled, released or lease lost). */
  finished: boolean;
  /** The engine no longer owns the job: its outcome must not be recorded. */
  lost: boolean;
}

/** Jobs a settlement's transaction claimed for a queue, started once it commits. */
export interface SettlementClaim {
  queue: QueueState;
  jobs: Job[];
}
