import { Counter, Gauge, type Registry } from 'prom-client';
import type { WatcherState, WatcherStatus } from './watcher.js';

const STATES: WatcherState[] = [
  'starting',
  'connecting',
  'idle',
  'polling',
  'fetching',
  'backoff',
  'standby',
  'stopped',
];

/** The inbound Prometheus metrics; watcher gauges are read from the watchers at scrape time. */
export class InboundMetrics {
  private readonly messages: Counter<'source'>;

  constructor(registry: Registry, statuses: () => WatcherStatus[]) {
    this.messages = new Counter({
      name: 'facteur_inbound_messages_total',
      help: 'Messages recorded in the inbound ledger, per source (imap, gmail, raw).',
      labelNames: ['source'],
      registers: [registry],
    });
    new Gauge({
      name: 'facteur_inbound_watcher_state',
      help: '1 for the state each mailbox watcher is in (per mailbox, folder and state).',
      labelNames: ['mailbox', 'folder', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          for (const state of STATES)
            this.set({ mailbox: s.mailbox, folder: s.folder, state }, s.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'facteur_inbound_watcher_lag_seconds',
      help: 'From the last recorded message reaching the server (INTERNALDATE) to its recording.',
      labelNames: ['mailbox', 'folder'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses())
          if (s.lagMs !== null) this.set({ mailbox: s.mailbox, folder: s.folder }, s.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'facteur_inbound_watcher_last_success_timestamp_seconds',
      help: 'When each watcher last completed a fetch cycle (Unix seconds).',
      labelNames: ['mailbox', 'folder'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          if (s.lastSuccessAt !== null)
            this.set({ mailbox: s.mailbox, folder: s.folder }, s.lastSuccessAt / 1000);
        }
      },
    });
  }

  /** Counts messages recorded from `source`. */
  recorded(count: number, source: string): void {
    this.messages.inc({ source }, count);
  }
}
