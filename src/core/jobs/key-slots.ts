/**
 * Per-key slot accounting of one queue in this process. Pure: no I/O, no clock.
 * A key is saturated when all its slots are taken. A key whose jobs may wait for a slot
 * (skipped by a claim while it was full, or released for lack of a slot) is backlogged; when
 * a slot of a saturated or backlogged key is given back, the key is freed: the next claim is
 * for that key alone, as many jobs as it can run.
 */
export class KeySlots {
  private readonly active = new Map<string, number>();
  private readonly backlogged = new Set<string>();
  private readonly freed = new Set<string>();

  /** `limitOf(key)` is read at every decision: a key's limit may change (endpoint settings). */
  constructor(private readonly limitOf: (key: string) => number) {}

  /** Jobs of `key` running now. */
  running(key: string): number {
    return this.active.get(key) ?? 0;
  }

  /** Slots of `key` still free (may be negative if its limit was lowered). */
  free(key: string): number {
    return this.limitOf(key) - this.running(key);
  }

  /** Takes a slot for a job of `key`; a job without a key always gets one. False: the key is full. */
  reserve(key: string | null): boolean {
    if (key === null) return true;
    const count = this.running(key);
    if (count >= this.limitOf(key)) return false;
    this.active.set(key, count + 1);
    return true;
  }

  /** Gives a slot back; a key that was saturated or backlogged becomes freed. */
  release(key: string | null): void {
    if (key === null) return;
    const count = this.running(key);
    if (count >= this.limitOf(key) || this.backlogged.has(key)) this.freed.add(key);
    if (count <= 1) this.active.delete(key);
    else this.active.set(key, count - 1);
  }

  /** Keys whose slots are all taken: a general claim skips their jobs. */
  saturated(): string[] {
    const keys: string[] = [];
    for (const [key, count] of this.active) if (count >= this.limitOf(key)) keys.push(key);
    return keys;
  }

  /** Marks `key` as having (or not) due jobs that wait for a slot. */
  setBacklogged(key: string, backlogged: boolean): void {
    if (backlogged) this.backlogged.add(key);
    else this.backlogged.delete(key);
  }

  isBacklogged(key: string): boolean {
    return this.backlogged.has(key);
  }

  /** Whether a key was freed since the last `takeFreed`. */
  hasFreed(): boolean {
    return this.freed.size > 0;
  }

  /** The freed keys, forgotten as they are returned. */
  takeFreed(): string[] {
    const keys = [...this.freed];
    this.freed.clear();
    return keys;
  }
}
