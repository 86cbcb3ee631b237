// Configuration: what a process runs with, where it comes from, and how it
// changes safely (docs/guardrails.md#config-as-code-and-promotion, #safe-reload).
//
// - env.ts: environment variables, validated once (parseEnv), with the namespace layered on.
// - namespace.ts, services/: config/<service>/<env>.yaml and each service's schema.
// - layer.ts: FIREBREAK_CONFIG, tunables from the file, bindings overridable by the environment.
// - secretRef.ts: secrets as references only; literal credentials refused.
// - contentHash.ts, diff.ts: what a drill proves and a promotion carries; key-level diffs.
// - drillRecords.ts, promote.ts: proof of a staging drill, and promotion to prod with it.
// - reloadable.ts, swappablePool.ts, reloadablePool.ts: create, verify, swap, drain, dispose.

export { parseEnv, envInt, envUrl } from './env.ts';
export { CONFIG_FILE_VAR, layerServiceConfig, type LayeredEnv } from './layer.ts';
export {
  formatProblem,
  loadNamespace,
  parseNamespace,
  readNamespace,
  type ConfigProblem,
  type LoadedNamespace,
} from './namespace.ts';
export { contentHash, shortHash } from './contentHash.ts';
export { diffNamespaces, formatChange, type ConfigChange } from './diff.ts';
export {
  DEFAULT_CONFIG_DIR,
  DEFAULT_STATE_FILE,
  DRILL_RECORD_COMMAND,
  latestDrill,
  readDrillRecords,
  recordDrillResult,
  stagingConfigHash,
  type DrillRecord,
  type RecordDrillInput,
} from './drillRecords.ts';
export { promote, type PromotionOptions, type PromotionResult } from './promote.ts';
export {
  ReloadableConfig,
  type ConfigStatus,
  type LoadedConfig,
  type ReloadableOptions,
  type ReloadOutcome,
  type ReloadResult,
} from './reloadable.ts';
export { drainAndEnd, SwappablePool, type DrainResult } from './swappablePool.ts';
export { startReloadablePool, type PoolSettings, type ReloadablePool } from './reloadablePool.ts';
export { SERVICE_SPECS, SERVICES, type ServiceName } from './services/index.ts';
