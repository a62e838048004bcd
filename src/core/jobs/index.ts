export {
  type EngineHealth,
  type JobContext,
  JobEngine,
  type JobEngineOptions,
  type QueueDefinition,
} from './engine.js';
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
export { jobView, jobViewSchema, registerJobRoutes } from './routes.js';
export {
  enqueueJob,
  enqueueJobs,
  getJob,
  JOBS_CHANNEL,
  queueStatistics,
  replayJob,
  runDeferredNow,
} from './store.js';
