// The environment stamp of a Redis server, and the ACL user that confines an
// environment to its own keys.
//
// - The stamp is the key `<env>:firebreak:stamp` (JSON: env, stampedAt,
//   stampedBy), under the environment's own key prefix so that the
//   environment's ACL user (which can only touch `<env>:*`) can read it.
// - Checking for `env` is one GET of its own stamp. Only when that is absent
//   does the check SCAN for `*:firebreak:stamp`, to name the environment that
//   does own the server (and so that adopting never stamps a server another
//   environment owns). That SCAN walks the keyspace, but only on the path
//   that ends in a refusal or a first stamp.
// - Stamping is SET NX: written once.
// - `<env>` ACL user (Redis 6+): `~<env>:*` keys, `&<env>:*` channels, every
//   command but @dangerous (KEYS, FLUSHALL, CONFIG, DEBUG, SHUTDOWN, ...;
//   INFO excepted, for ioredis's ready check), so
//   a process of one environment cannot read or write another's keys even if
//   it is pointed at the wrong server by mistake.

import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Stamp } from './environment.ts';

export const STAMP_KEY_SUFFIX = 'firebreak:stamp';
const STAMP_PATTERN = `*:${STAMP_KEY_SUFFIX}`;
const SCAN_COUNT = 1_000;

export const redisKeyPrefix = (env: string): string => `${env}:`;
export const redisStampKey = (env: string): string => `${redisKeyPrefix(env)}${STAMP_KEY_SUFFIX}`;

const StoredStamp = z.object({ env: z.string(), stampedAt: z.string(), stampedBy: z.string() });

/** The client's name for a full key: ioredis adds its keyPrefix to every key argument. */
function clientKey(client: Redis, fullKey: string): string | undefined {
  const prefix = client.options.keyPrefix ?? '';
  if (!prefix) return fullKey;
  return fullKey.startsWith(prefix) ? fullKey.slice(prefix.length) : undefined;
}

function parseStamp(envFromKey: string, raw: string | null): Stamp {
  const parsed = raw === null ? undefined : StoredStamp.safeParse(safeJson(raw));
  if (parsed?.success) return parsed.data;
  // A stamp we cannot read still says which environment's prefix it lives under.
  return { env: envFromKey, stampedAt: null, stampedBy: raw === null ? null : 'an unreadable stamp value' };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Stamps of other environments, by a SCAN for `*:firebreak:stamp` (the keys' names say whose). */
async function scanStamps(client: Redis): Promise<Stamp[]> {
  const found: Stamp[] = [];
  let cursor = '0';
  do {
    // ioredis does not prefix SCAN's MATCH pattern, nor the keys it returns.
    const [next, keys] = await client.scan(cursor, 'MATCH', STAMP_PATTERN, 'COUNT', SCAN_COUNT);
    cursor = next;
    for (const key of keys) {
      const env = key.slice(0, -(STAMP_KEY_SUFFIX.length + 1));
      const name = clientKey(client, key);
      // Another environment's key may be out of our ACL's reach (NOPERM): its name is enough.
      const raw = name === undefined ? null : await client.get(name).catch(() => null);
      found.push(parseStamp(env, raw));
    }
  } while (cursor !== '0');
  return found;
}

/** The stamps that decide whether `env` may use this server: its own, or else any other's. */
export async function readRedisStamps(client: Redis, env: string): Promise<Stamp[]> {
  const ownKey = clientKey(client, redisStampKey(env));
  if (ownKey !== undefined) {
    const raw = await client.get(ownKey);
    if (raw !== null) return [parseStamp(env, raw)];
  }
  return scanStamps(client);
}

/** Writes `env`'s stamp unless the server already has a stamp; returns the stamps it has afterwards. */
export async function writeRedisStamp(client: Redis, env: string, by: string): Promise<Stamp[]> {
  const before = await readRedisStamps(client, env);
  if (before.length > 0) return before;
  const ownKey = clientKey(client, redisStampKey(env));
  if (ownKey === undefined)
    throw new Error(`the client's key prefix ${client.options.keyPrefix} is not ${redisKeyPrefix(env)}`);
  const stamp = { env, stampedAt: new Date().toISOString(), stampedBy: by };
  await client.set(ownKey, JSON.stringify(stamp), 'NX');
  return readRedisStamps(client, env);
}

export type AclOutcome = 'created' | 'exists';

/**
 * Creates the environment's ACL user, confined to `<env>:*` keys and
 * channels, with every command but the @dangerous ones. An existing user is
 * left alone (its password may be in use): rotate it with ACL SETUSER by hand.
 */
export async function ensureEnvironmentAclUser(
  client: Redis,
  env: string,
  password: string,
): Promise<AclOutcome> {
  const existing = await client.call('ACL', 'GETUSER', env);
  if (existing !== null) return 'exists';
  const prefix = redisKeyPrefix(env);
  await client.call(
    'ACL',
    'SETUSER',
    env,
    'reset',
    'on',
    `>${password}`,
    `~${prefix}*`,
    `&${prefix}*`,
    '+@all',
    '-@dangerous',
    // INFO is @dangerous, but it is how ioredis knows a server is ready (its ready check); it lists no keys.
    '+info',
  );
  return 'created';
}
