/** What B6's driver answers the orchestrator (b6.ts), per command. */

/**
 * Where the time went per message, from Facteur's own records (its clock is the system clock,
 * millisecond resolution): APPEND done -> ledger row created (IDLE notice, fetch, parse, commit),
 * -> route job claimed, -> first delivery attempt started, -> webhook
 * received (this process). Medians over the run, ms. (The route job's settlement is recorded
 * after its delivery job may already have started, so it marks no stage.)
 */
export interface StageBreakdown {
  appendToRecorded: number;
  recordedToRouteStart: number;
  /** Route job claimed -> first delivery attempt started: the route transaction, then the delivery job's claim. */
  routeToAttempt: number;
  attemptToReceived: number;
  messages: number;
}

/** What a paced run returns: per message, when its APPEND completed and (Facteur) when its webhook arrived. */
export interface PacedResult {
  appendAt: number[];
  hookAt: Array<number | null>;
  /** APPENDs that took longer than the interval (the pace slipped). */
  late: number;
  stages?: StageBreakdown;
}

/** The reconnect test. */
export interface ReconnectResult {
  /** restart() call to Dovecot greeting again. */
  downMs: number;
  /** Dovecot up to the watcher's `connectedSince` (Facteur's clock, ms resolution). */
  reconnectMs: number | null;
  /** Dovecot up to this driver seeing `connectedSince` in GET /api/mailboxes/{id} (20 ms polls). */
  observedMs: number | null;
  /** Dovecot up to the webhook of a message appended right after Dovecot came back. */
  webhookMs: number | null;
  lastError: string | null;
}

/** The sustained-load phase. */
export interface SustainResult {
  rate: number;
  seconds: number;
  scheduled: number;
  appended: number;
  appendFailures: number;
  /** Achieved APPEND rate over the phase. */
  appendRate: number;
  /** Every sample (cumulative counts; Dovecot CPU since the phase started). */
  samples: Array<{
    t: number;
    appended: number;
    recorded: number;
    routed: number;
    delivered: number;
    inFlight: number;
    dovecotCpuSeconds: number;
  }>;
  /** Times the pacer waited because MAX_IN_FLIGHT APPENDs were outstanding (5 ms each). */
  slipped: number;
  maxLag: number;
  maxDeliveryLag: number;
  /** Mean lag of the last third of the samples minus that of the first third. */
  lagGrowth: number;
  /** From the last APPEND to every message recorded and delivered; null: not within the timeout. */
  drainSeconds: number | null;
  e2e: { p50Ms: number; p99Ms: number; maxMs: number; missing: number };
  ledger: Record<string, number>;
}
