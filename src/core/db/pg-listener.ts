import pg from 'pg';
import type { Logger } from '../observability/logger.js';

/** The PostgreSQL channel every notification of Facteur goes through. */
export const NOTIFY_CHANNEL = 'facteur';

/**
 * A dedicated connection holding `LISTEN facteur`, reconnected with backoff when it drops.
 * Missed notifications while disconnected are covered by the job engine's safety poll.
 */
export class PostgresListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryDelayMs = 250;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly onPayload: (payload: string) => void,
  ) {}

  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      this.logger.warn(
        { event: 'db.listen_failed', err: error },
        'cannot open the LISTEN connection; retrying',
      );
      this.scheduleReconnect();
    }
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    client.on('notification', (message) => {
      if (message.channel === NOTIFY_CHANNEL && message.payload) this.onPayload(message.payload);
    });
    client.on('error', (error) => {
      this.logger.warn({ event: 'db.listen_lost', err: error }, 'LISTEN connection lost; reconnecting');
      void client.end().catch(() => undefined);
      if (this.client === client) this.client = undefined;
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    this.client = client;
    this.retryDelayMs = 250;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 10_000);
    setTimeout(() => {
      if (this.closed || this.client) return;
      this.connect().catch((error) => {
        this.logger.warn({ event: 'db.listen_failed', err: error }, 'cannot reopen the LISTEN connection');
        this.scheduleReconnect();
      });
    }, delay).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}
