/**
 * What a test does when a real service it needs cannot be started: in CI (`CI=true`) that is a
 * failure, because a green run must mean the tests ran; elsewhere it is a visible skip with the reason.
 */

/** The result of probing a service. */
export type ServiceProbe = { ok: true } | { ok: false; reason: string };

/** True when running in CI. */
export function inCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/**
 * Turns a probe into a skip reason, or throws in CI. Use as
 * `describe.skipIf(skipReason)(...)` with `const skipReason = serviceSkipReason('dovecot', await probe())`.
 */
export function serviceSkipReason(service: string, probe: ServiceProbe): string | false {
  if (probe.ok) return false;
  const message = `${service} is unavailable: ${probe.reason}`;
  if (inCi()) throw new Error(`${message} (CI=true: a missing service is a failure, not a skip)`);
  console.warn(`[skip] ${message}`);
  return message;
}
