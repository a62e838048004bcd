export { JobEngine, type EngineHealth, type JobContext, type JobEngineOptions, type QueueDefinition } from './engine.js';
export {
  attemptsForSchedule,
  decideSettlement,
  FINAL_STATUSES,
  JobDeferral,
  retryDelay,
  type Job,
  type JobOutcome,
  type JobSpec,
  type JobStatus,
  type RetryPolicy,
  type Settlement,
} from './model.js';
export { cancelJob, enqueueJob, enqueueJobs, getJob, JOBS_CHANNEL, replayJob } from './store.js';
