/**
 * Signed tokens already taken (Mailgun's `token`), kept in memory until their timestamp leaves
 * the accepted window, after which the timestamp check refuses them anyway. Per process and
 * lost on restart: a replay to another instance, or after a restart within the window, is not
 * caught, which the design accepts because applying the same feedback twice changes nothing.
 */
export class TokenMemory {
  /** Token -> when it may be forgotten (epoch ms). Insertion order is roughly expiry order. */
  private readonly tokens = new Map<string, number>();

  constructor(
    /** Most tokens remembered; the oldest are forgotten beyond this. Default 100,000. */
    private readonly max = 100_000,
  ) {}

  /**
   * Takes `token` for the request at hand: true when it was not seen (it is now), false when it
   * was. `forgetAt` is when it can no longer pass the timestamp check.
   */
  reserve(token: string, forgetAt: number, now: number): boolean {
    this.forgetExpired(now);
    const until = this.tokens.get(token);
    if (until !== undefined && until >= now) return false;
    this.tokens.delete(token);
    this.tokens.set(token, forgetAt);
    while (this.tokens.size > this.max) {
      const oldest = this.tokens.keys().next().value;
      if (oldest === undefined) break;
      this.tokens.delete(oldest);
    }
    return true;
  }

  /** Gives `token` back, when the request it came with could not be applied (the provider retries). */
  release(token: string): void {
    this.tokens.delete(token);
  }

  /** How many tokens are remembered. */
  get size(): number {
    return this.tokens.size;
  }

  private forgetExpired(now: number): void {
    for (const [token, until] of this.tokens) {
      if (until >= now) break;
      this.tokens.delete(token);
    }
  }
}
