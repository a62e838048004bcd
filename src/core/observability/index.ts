export {
  DEPENDENCY_ALERT_TYPES,
  type DependencyAlert,
  type DependencyKind,
  DependencyMonitor,
  type DependencySample,
  type DependencySnapshot,
  type ObserveDependency,
} from './dependencies.js';
export type { DependencyThresholds } from './dependency-model.js';
export {
  type DependencyProbe,
  databaseProbe,
  type ProbeSource,
  transportProbe,
} from './dependency-probes.js';
export {
  type ComponentHealth,
  type HealthAugment,
  HealthRegistry,
  type HealthStatus,
  type ReadinessReport,
} from './health.js';
export { createLogger, type Logger, type LoggerOptions, REDACTED_PATHS, silentLogger } from './logger.js';
export { createMetricsRegistry } from './metrics.js';
