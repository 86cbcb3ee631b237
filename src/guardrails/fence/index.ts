// The environment fence: every stateful resource carries the stamp of the
// environment that owns it, and a process refuses any resource not stamped
// for the environment it runs as (docs/guardrails.md#environment-fence).
//
// - Fence (fence.ts): check, verify, stamp one resource; the library API.
// - startServiceFence (serviceFence.ts): what a Firebreak service calls at start-up; exit code 3.
// - installPgConnectionFence / fencePoolOnConnect: the check on every new Postgres connection.
// - FencedRedis: an ioredis client confined to `<env>:` keys, checked on every 'ready'.
// - Stamps: postgresStamp.ts (a table), redisStamp.ts (a key, an ACL user),
//   kafkaStamp.ts (a topic), sqsStamp.ts (queue tags).

export { DEFAULT_ENV, ENV_NAME_PATTERN, EnvName, stampedBy, type Stamp } from './environment.ts';
export { Fence, type FenceOptions } from './fence.ts';
export { FencedRedis, type FencedRedisOptions } from './fencedRedis.ts';
export { FenceMetrics, REFUSALS_METRIC, pushFenceMetrics } from './fenceMetrics.ts';
export { kafkaStampTopic, kafkaTopicPrefix } from './kafkaStamp.ts';
export {
  connectionResource,
  fencePoolOnConnect,
  installPgConnectionFence,
  type PgConnectionFenceOptions,
} from './pgConnectionFence.ts';
export { STAMP_TABLE } from './postgresStamp.ts';
export { ensureEnvironmentAclUser, redisKeyPrefix, redisStampKey } from './redisStamp.ts';
export {
  describeResource,
  isLoopback,
  parseResourceUrl,
  redactUrl,
  type FenceResource,
  type ResourceKind,
} from './resourceUrl.ts';
export { SQS_ENV_TAG } from './sqsStamp.ts';
export { FENCE_EXIT_CODE, kafkaUrl, startServiceFence, type ServiceFence } from './serviceFence.ts';
export { isRefusal, refusalError, type FenceVerdict, type Outcome } from './verdict.ts';
