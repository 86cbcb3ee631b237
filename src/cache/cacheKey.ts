// Cache keys: `<env>:<service>:<schema>:v<version>:<id>`.
//
// The environment comes first so staging and production never share a key
// even when (wrongly) they share a Redis: the incident behind this folder was
// a staging writer overwriting production's entries. The schema version is in
// the key so a reader of version N never even reads what a writer of version
// N+1 wrote during a rollout; the envelope (envelope.ts) is still checked,
// because a key is only a claim about what is stored under it.

/** Lowercase words with dashes: environment, service and schema names. */
const NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Ids: UUIDs, ISO currency codes, slugs. Never a colon, so keys parse back unambiguously. */
const ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface CacheNamespace {
  /** The deployment environment, e.g. `production`, `staging`, `local`. */
  readonly env: string;
  /** The service that owns the entries, e.g. `api`. */
  readonly service: string;
}

export function assertCacheName(what: string, value: string): void {
  if (!NAME.test(value))
    throw new TypeError(
      `${what} ${JSON.stringify(value)} must match ${NAME.source} (lowercase, digits, dashes)`,
    );
}

export function assertCacheNamespace(namespace: CacheNamespace): void {
  assertCacheName('cache env', namespace.env);
  assertCacheName('cache service', namespace.service);
}

/** The key of one entry; throws TypeError on a malformed part (a programming error, not bad input). */
export function cacheKey(namespace: CacheNamespace, schema: string, version: number, id: string): string {
  assertCacheNamespace(namespace);
  assertCacheName('cache schema', schema);
  if (!Number.isSafeInteger(version) || version < 1)
    throw new TypeError(`cache schema version must be a positive integer, not ${version}`);
  if (!ID.test(id)) throw new TypeError(`cache id ${JSON.stringify(id)} must match ${ID.source}`);
  return `${namespace.env}:${namespace.service}:${schema}:v${version}:${id}`;
}

/** The pattern of every key of one schema version (for SCAN in tools and drills; never KEYS in a service). */
export function cacheKeyPattern(namespace: CacheNamespace, schema: string, version: number): string {
  return `${cacheKey(namespace, schema, version, 'x').slice(0, -1)}*`;
}
