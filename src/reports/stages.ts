import type { AppError } from '../core/errors.js';
import { hintFor } from './hints.js';
import type { Stage, StageName } from './model.js';

/** Writing a run's stages: pure updates of the stage list stored on the run. */

/** The stages with `name` changed. */
export function setStage(stages: Stage[], name: StageName, change: Partial<Stage>): Stage[] {
  return stages.map((s) => (s.stage === name ? { ...s, ...change } : s));
}

export function failedStage(
  stages: Stage[],
  name: StageName,
  error: AppError,
  startedAt: number,
  now: number,
  attempts: number,
) {
  return setStage(stages, name, {
    outcome: 'failed',
    startedAt,
    ms: now - startedAt,
    attempts,
    errorCode: error.code,
    message: error.message,
    hint: hintFor(error.code, { stage: name }),
  });
}

/** The stages with `name` done: its time, attempts and facts, no error. */
export function okStage(
  stages: Stage[],
  name: StageName,
  timing: { startedAt: number; now: number; attempts: number },
  detail: Record<string, unknown>,
): Stage[] {
  return setStage(stages, name, {
    outcome: 'ok',
    startedAt: timing.startedAt,
    ms: timing.now - timing.startedAt,
    attempts: timing.attempts,
    errorCode: null,
    message: null,
    hint: null,
    detail,
  });
}
