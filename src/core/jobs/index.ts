export type {
  ClaimedHook,
  JobContext,
  JobHandler,
  QueueDefinition,
  ReplayedHook,
  SettledHook,
  SettledJob,
} from './contract.js';
export { oneByOne } from './contract.js';
export { type EngineHealth, JobEngine, type JobEngineOptions } from './engine.js';
export {
  type BringForward,
  bringJobsForward,
  cancelJobsByKey,
  runDeferredNow,
  runJobNow,
  setMaxAttemptsByKey,
} from './keys.js';
export {
  attemptsForSchedule,
  decideSettlement,
  FINAL_STATUSES,
  type Job,
  JobDeferral,
  type JobOutcome,
  type JobSpec,
  type JobStatus,
  type RetryPolicy,
  retryDelay,
  type Settlement,
} from './model.js';
export { runningJobIds, runningSince } from './progress.js';
export { jobView, jobViewSchema, registerJobRoutes } from './routes.js';
export { enqueueJob, enqueueJobs, getJob, JOBS_CHANNEL, queueStatistics, replayJob } from './store.js';
