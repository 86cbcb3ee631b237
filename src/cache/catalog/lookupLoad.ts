// Read load on the catalog lookup routes over real HTTP, for the load test,
// the bench and the cache-poison drill: `concurrency` clients, each sending
// its next request as soon as the last one is answered (closed loop), for a
// number of requests or a duration, tallying statuses and error codes.

import type { SeededRandom } from '../../util/seededRandom.ts';

export interface LookupLoadOptions {
  readonly baseUrl: string;
  /** Paths to pick from, e.g. /v1/creators/<id>/plans. */
  readonly paths: readonly string[];
  readonly concurrency: number;
  /** Stop after this many requests in all... */
  readonly requests?: number;
  /** ...or after this long. */
  readonly durationMs?: number;
  readonly rng: SeededRandom;
  readonly signal?: AbortSignal;
}

export interface LookupLoadResult {
  readonly sent: number;
  /** Responses by HTTP status ("network" for a request that got none). */
  readonly byStatus: Record<string, number>;
  /** Error codes of the non-200 responses. */
  readonly byCode: Record<string, number>;
  /** 503s without a usable Retry-After header (must be 0). */
  readonly missingRetryAfter: number;
  readonly elapsedMs: number;
}

export async function runLookupLoad(options: LookupLoadOptions): Promise<LookupLoadResult> {
  if (options.requests === undefined && options.durationMs === undefined)
    throw new TypeError('runLookupLoad: give requests or durationMs');
  const byStatus: Record<string, number> = {};
  const byCode: Record<string, number> = {};
  let sent = 0;
  let missingRetryAfter = 0;
  const started = performance.now();
  const more = () =>
    !options.signal?.aborted &&
    (options.requests === undefined || sent < options.requests) &&
    (options.durationMs === undefined || performance.now() - started < options.durationMs);
  const client = async () => {
    while (more()) {
      sent += 1;
      const path = options.rng.pick(options.paths);
      try {
        const res = await fetch(`${options.baseUrl}${path}`);
        byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
        if (res.status === 200) {
          await res.arrayBuffer();
          continue;
        }
        if (res.status === 503 && !(Number(res.headers.get('retry-after')) >= 1)) missingRetryAfter += 1;
        const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
        const code = body.error?.code ?? 'unknown';
        byCode[code] = (byCode[code] ?? 0) + 1;
      } catch {
        byStatus.network = (byStatus.network ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return { sent, byStatus, byCode, missingRetryAfter, elapsedMs: performance.now() - started };
}
