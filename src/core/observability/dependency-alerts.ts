import type { DependencyKind, DependencySnapshot } from './dependencies.js';
import {
  type AlertState,
  type DependencyFigures,
  type DependencyThresholds,
  describeCrossing,
} from './dependency-model.js';
import type { ComponentHealth } from './health.js';

/**
 * What dependency watching shows: the two alerts (their subject and `data`, documented in
 * docs/operations.md#watching-dependencies) and a dependency's part of `/readyz`. Pure.
 */

/** The alert event types the monitor raises. */
export const DEPENDENCY_ALERT_TYPES = {
  failing: 'facteur.alert.dependency_failing',
  recovered: 'facteur.alert.dependency_recovered',
} as const;

/** An alert for the alert channel (main.ts binds it to the webhooks' alerts). */
export interface DependencyAlert {
  type: (typeof DEPENDENCY_ALERT_TYPES)[keyof typeof DEPENDENCY_ALERT_TYPES];
  subject: string;
  data: Record<string, unknown>;
}

/** The dependency an alert is about. */
interface AlertSubject {
  kind: DependencyKind;
  name: string;
  lastError: { code: string } | null;
}

function alertFigures(dependency: AlertSubject, figures: DependencyFigures): Record<string, unknown> {
  return {
    kind: dependency.kind,
    name: dependency.name,
    consecutiveFailures: figures.consecutiveFailures,
    latency: figures.latency,
    errors: figures.errors,
    lastError: dependency.lastError?.code ?? null,
  };
}

/** `facteur.alert.dependency_failing`: which threshold, the figures with their sample counts. */
export function failingAlert(
  dependency: AlertSubject,
  figures: DependencyFigures,
  state: Extract<AlertState, { failing: true }>,
  limits: DependencyThresholds,
  now: number,
): DependencyAlert {
  const why = describeCrossing(state.threshold, figures, limits);
  return {
    type: DEPENDENCY_ALERT_TYPES.failing,
    subject: `${dependency.kind} ${dependency.name} is failing: ${why}`,
    data: {
      ...alertFigures(dependency, figures),
      threshold: state.threshold,
      crossed: state.lastCrossed,
      since: new Date(now).toISOString(),
      limits: {
        failures: limits.failures,
        latencyMs: limits.latencyMs,
        errorRate: limits.errorRate,
        minSamples: limits.minSamples,
      },
    },
  };
}

/** `facteur.alert.dependency_recovered`, for the crossing that started at `since`. */
export function recoveredAlert(
  dependency: AlertSubject,
  figures: DependencyFigures,
  since: number,
  now: number,
): DependencyAlert {
  return {
    type: DEPENDENCY_ALERT_TYPES.recovered,
    subject: `${dependency.kind} ${dependency.name} recovered after ${Math.round((now - since) / 1000)} s`,
    data: {
      ...alertFigures(dependency, figures),
      failingSince: new Date(since).toISOString(),
      recoveredAt: new Date(now).toISOString(),
    },
  };
}

/** The figures as /readyz shows them in a check's `detail`. */
function detailOf(snapshot: DependencySnapshot): Record<string, unknown> {
  return {
    latency: snapshot.latency,
    errors: snapshot.errors,
    consecutiveFailures: snapshot.consecutiveFailures,
    alert: snapshot.alert ? { ...snapshot.alert, since: new Date(snapshot.alert.since).toISOString() } : null,
  };
}

function alertMessage(snapshot: DependencySnapshot): string {
  return `over its alert threshold (${snapshot.alert?.crossed.join(', ')}) since ${new Date(snapshot.alert?.since ?? 0).toISOString()}`;
}

/** `check` with the dependency's figures merged into its `detail`; an `ok` one turns `degraded` in alert. */
export function mergeInto(check: ComponentHealth, snapshot: DependencySnapshot): ComponentHealth {
  const degrade = snapshot.alert !== null && check.status === 'ok';
  return {
    ...check,
    ...(degrade ? { status: 'degraded' as const, message: alertMessage(snapshot) } : {}),
    detail: { ...check.detail, ...detailOf(snapshot) },
  };
}

/** A check of its own (`KIND:NAME`) for a dependency no check stands for. */
export function healthOf(snapshot: DependencySnapshot): ComponentHealth {
  return {
    status: snapshot.alert ? 'degraded' : 'ok',
    ...(snapshot.alert ? { message: alertMessage(snapshot) } : {}),
    lastError: snapshot.lastError ? { message: snapshot.lastError.code, at: snapshot.lastError.at } : null,
    lastSuccessAt: snapshot.lastSuccessAt,
    detail: detailOf(snapshot),
  };
}
