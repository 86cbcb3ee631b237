// Environment names and the stamp every stateful resource carries: which
// environment owns it, written once when it is provisioned. The fence
// compares a resource's stamp with the environment a process runs as
// (FIREBREAK_ENV) and refuses the resource when they differ: staging must not
// be able to touch production state (docs/guardrails.md, incident 003).

import { hostname, userInfo } from 'node:os';
import { z } from 'zod';

/**
 * Lower-case letters, digits and '-', starting with a letter, at most 31
 * characters: the name has to be a Redis key prefix, a Kafka topic prefix, a
 * Redis ACL user name and an SQS tag value, unquoted, in all of them.
 */
export const ENV_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;

export const EnvName = z
  .string()
  .regex(
    ENV_NAME_PATTERN,
    'must be an environment name: lower-case letters, digits and "-", starting with a letter, at most 31 characters (e.g. staging, production)',
  );

/** The environment a process runs as when FIREBREAK_ENV is not set (local development). */
export const DEFAULT_ENV = 'dev';

export interface Stamp {
  readonly env: string;
  /** ISO 8601; null where the resource does not record it (a Kafka stamp read by topic name only). */
  readonly stampedAt: string | null;
  readonly stampedBy: string | null;
}

/** Who wrote a stamp, for the person reading it a year later: "firebreak env stamp (ana@build-7, pid 4121)". */
export function stampedBy(what: string): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep "unknown"
  }
  return `${what} (${user}@${hostname()}, pid ${process.pid})`;
}
