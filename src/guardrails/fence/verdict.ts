// What a fence check concludes about one resource, and the error a refusal
// becomes. Pure: the stores (postgresStamp.ts, redisStamp.ts, ...) read the
// stamps, `decide` judges them, the Fence (fence.ts) acts.

import { fbError, type FirebreakError } from '../../errors/index.ts';
import type { Stamp } from './environment.ts';
import { describeResource, type FenceResource } from './resourceUrl.ts';

/**
 * ok: stamped for this environment. adopted: was unstamped, this check stamped it.
 * mismatch: stamped for another environment. unstamped: no stamp, and adopting was not allowed.
 */
export type Outcome = 'ok' | 'adopted' | 'mismatch' | 'unstamped';

export interface FenceVerdict {
  readonly resource: FenceResource;
  /** The environment the checking process runs as. */
  readonly expected: string;
  readonly outcome: Outcome;
  /** The deciding stamp: ours (ok, adopted), the other environment's (mismatch), null (unstamped). */
  readonly stamp: Stamp | null;
}

export const isRefusal = (v: FenceVerdict): boolean => v.outcome === 'mismatch' || v.outcome === 'unstamped';

/**
 * Judges the stamps found on a resource. Any stamp of another environment
 * refuses it, even beside one of ours: a resource belongs to one environment.
 * No stamp at all is 'unstamped' (the caller may adopt it).
 */
export function decide(
  expected: string,
  stamps: readonly Stamp[],
): { outcome: Outcome; stamp: Stamp | null } {
  const foreign = stamps.find((s) => s.env !== expected);
  if (foreign) return { outcome: 'mismatch', stamp: foreign };
  const own = stamps[0];
  return own ? { outcome: 'ok', stamp: own } : { outcome: 'unstamped', stamp: null };
}

export function describeStamp(stamp: Stamp): string {
  const parts = [stamp.stampedAt && `at ${stamp.stampedAt}`, stamp.stampedBy && `by ${stamp.stampedBy}`];
  const when = parts.filter(Boolean).join(' ');
  return when ? `"${stamp.env}" (stamped ${when})` : `"${stamp.env}"`;
}

/** The one-line error a refusal is reported with: names the resource (redacted) and both environments. */
export function refusalError(verdict: FenceVerdict): FirebreakError {
  const what = describeResource(verdict.resource);
  if (verdict.outcome === 'mismatch' && verdict.stamp) {
    return fbError(
      'FB_ENV_MISMATCH',
      `${what} belongs to environment ${describeStamp(verdict.stamp)}, but this process runs as "${verdict.expected}": refused before any write. Point the process at a ${verdict.expected} resource; do not re-stamp this one.`,
    );
  }
  return fbError(
    'FB_ENV_UNSTAMPED',
    `${what} carries no environment stamp, and this process (environment "${verdict.expected}") does not adopt unstamped resources: refused before any write. Stamp it when it is provisioned (firebreak env stamp --env ${verdict.expected} URL), or, for local development only, adopt it (FIREBREAK_ADOPT=1; on the CLI --adopt).`,
  );
}

/** A resource whose stamp could not be read or written (unreachable, wrong credentials, ...). */
export function checkFailed(resource: FenceResource, doing: string, cause: unknown): FirebreakError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return fbError(
    'FB_ENV_CHECK_FAILED',
    `${describeResource(resource)}: could not ${doing}: ${reason.replaceAll('\n', ' ')}`,
    { cause },
  );
}
