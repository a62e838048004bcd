/**
 * The health registry behind `/readyz`: each dependency (database, SMTP transport, job engine,
 * later mailbox watchers and webhook endpoints) registers a check that reports its state and
 * its last error, so that an operator sees which part is failing and since when.
 */

/** State of one component. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/** What a check reports. Times are ISO-8601 strings in the HTTP answer. */
export interface ComponentHealth {
  status: HealthStatus;
  /** Short explanation when not ok. */
  message?: string;
  lastError?: { message: string; at: number } | null;
  lastSuccessAt?: number | null;
  /** Anything else worth showing (breaker state, queue depth, ...). */
  detail?: Record<string, unknown>;
}

/** A registered check. */
interface Check {
  run: () => ComponentHealth | Promise<ComponentHealth>;
  /** When a critical component is down, the whole instance is not ready (503). */
  critical: boolean;
}

/** The overall answer. */
export interface ReadinessReport {
  status: HealthStatus;
  checks: Record<string, ComponentHealth & { critical: boolean }>;
}

/** Rewrites or adds to the checks of a report before it is aggregated (dependency figures). */
export type HealthAugment = (checks: Record<string, ComponentHealth & { critical: boolean }>) => void;

/** Collects component checks and aggregates them. */
export class HealthRegistry {
  private readonly checks = new Map<string, Check>();
  private readonly augments: HealthAugment[] = [];

  /** Adds `augment`, run on every report after the checks (see DependencyMonitor.watchHealth). */
  augment(augment: HealthAugment): void {
    this.augments.push(augment);
  }

  /** Adds (or replaces) the check called `name`. */
  register(name: string, run: Check['run'], options: { critical?: boolean } = {}): void {
    this.checks.set(name, { run, critical: options.critical ?? false });
  }

  /** Removes a check (a deleted mailbox, a removed endpoint). */
  unregister(name: string): void {
    this.checks.delete(name);
  }

  /** Runs every check (each bounded by `timeoutMs`) and aggregates: down if a critical one is down. */
  async report(timeoutMs = 2000): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.checks].map(
        async ([name, check]) =>
          [name, { ...(await runBounded(check, timeoutMs)), critical: check.critical }] as const,
      ),
    );
    const checks: Record<string, ComponentHealth & { critical: boolean }> = Object.fromEntries(entries);
    for (const augment of this.augments) augment(checks);
    const values = Object.values(checks);
    const status: HealthStatus = values.some((c) => c.critical && c.status === 'down')
      ? 'down'
      : values.some((c) => c.status !== 'ok')
        ? 'degraded'
        : 'ok';
    return { status, checks };
  }
}

async function runBounded(check: Check, timeoutMs: number): Promise<ComponentHealth> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check.run),
      new Promise<ComponentHealth>((resolve) => {
        timer = setTimeout(
          () => resolve({ status: 'down', message: `the check did not answer within ${timeoutMs} ms` }),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    return { status: 'down', message: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
