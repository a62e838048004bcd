import { ParseProblem, parseDuration, parseInteger } from './parsers.js';
import { variable } from './variable-kit.js';

/**
 * The boot variables of dependency watching (alert thresholds and active probes), spread into
 * `BOOT_VARIABLES`; kept here so that variables.ts stays one screenful per section.
 */

/** `off` (or `0`) for a check that is turned off, else `parse` of the value. */
function orOff<T>(raw: string, parse: (raw: string) => T): T | null {
  return /^(off|0)$/i.test(raw.trim()) ? null : parse(raw);
}

/** Parses `50%`, `12.5%` (or `0.5`) into a rate from 0 (exclusive) to 1. */
export function parseRate(raw: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(raw);
  const value = match ? Number(match[1]) / (match[2] === '%' ? 100 : 1) : Number.NaN;
  if (!(value > 0 && value <= 1))
    throw new ParseProblem('expected a percentage from 1% to 100% (like 50%), or off');
  return value;
}

function parseWindow(raw: string): number {
  const ms = parseDuration(raw);
  if (ms < 1000 || ms > 86_400_000) throw new ParseProblem('expected a duration from 1s to 24h');
  return ms;
}

function parseProbeInterval(raw: string): number {
  const ms = parseDuration(raw);
  if (ms !== 0 && ms < 1000) throw new ParseProblem('expected a duration of at least 1s, or off');
  return ms;
}

function parseProbeTimeout(raw: string): number {
  const ms = parseDuration(raw);
  if (ms < 10 || ms > 300_000) throw new ParseProblem('expected a duration from 10ms to 5m');
  return ms;
}

const SECTION = 'Watching dependencies';

/** Dependency watching's rows of `BOOT_VARIABLES`. */
export const DEPENDENCY_VARIABLES = {
  dependencyWindowMs: variable({
    name: 'FACTEUR_DEPENDENCY_WINDOW',
    section: SECTION,
    unset: '5m',
    form: 'duration from 1s to 24h',
    parse: parseWindow,
    description:
      'The rolling window of the latency percentiles and error rates that `/readyz` shows for each dependency and that the latency and error-rate thresholds judge.',
  }),
  dependencyAlertFailures: variable({
    name: 'FACTEUR_DEPENDENCY_ALERT_FAILURES',
    section: SECTION,
    unset: '5',
    form: 'whole number 0-10000',
    parse: (raw) => parseInteger(raw, 0, 10_000),
    description:
      'Failed calls in a row to one dependency that raise `facteur.alert.dependency_failing`. `0` turns this check off.',
  }),
  dependencyAlertLatencyMs: variable<number | null>({
    name: 'FACTEUR_DEPENDENCY_ALERT_LATENCY',
    section: SECTION,
    unset: 'off',
    form: 'duration, or off',
    parse: (raw) => orOff(raw, parseDuration),
    description:
      'A dependency whose p95 latency over the window is above this (with at least `FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES` calls) raises `facteur.alert.dependency_failing`.',
  }),
  dependencyAlertErrorRate: variable<number | null>({
    name: 'FACTEUR_DEPENDENCY_ALERT_ERROR_RATE',
    section: SECTION,
    unset: '50%',
    form: 'percentage like 50%, or off',
    parse: (raw) => orOff(raw, parseRate),
    description:
      'A dependency whose share of failed calls over the window reaches this (with at least `FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES` calls) raises `facteur.alert.dependency_failing`.',
  }),
  dependencyAlertMinSamples: variable({
    name: 'FACTEUR_DEPENDENCY_ALERT_MIN_SAMPLES',
    section: SECTION,
    unset: '10',
    form: 'whole number 1-100000',
    parse: (raw) => parseInteger(raw, 1, 100_000),
    description:
      'Calls the window must hold before the latency and error-rate thresholds apply, so that two failed calls out of two do not read as an outage.',
  }),
  probeIntervalMs: variable({
    name: 'FACTEUR_PROBE_INTERVAL',
    section: SECTION,
    unset: 'off',
    form: 'duration of at least 1s, or off',
    parse: (raw) => orOff(raw, parseProbeInterval) ?? 0,
    description:
      'How often each dependency is probed actively: the database (`select 1`), each transport (connect and authenticate, no message), each active webhook endpoint (`HEAD` of its origin, through the SSRF guard). Probes feed the same figures and alerts as real calls. Unset: no probes.',
  }),
  probeTimeoutMs: variable({
    name: 'FACTEUR_PROBE_TIMEOUT',
    section: SECTION,
    unset: '5s',
    form: 'duration from 10ms to 5m',
    parse: parseProbeTimeout,
    description: 'Longest a probe may take; one that takes longer counts as a failed call.',
  }),
};
