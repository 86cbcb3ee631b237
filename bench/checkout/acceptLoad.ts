// Drives POST /v1/checkouts at a fixed rate with autocannon and records every
// response's own latency.
//
// Two things about autocannon 8's rate limiting shape how it is used here
// (read in node_modules/autocannon/lib/httpClient.js and run.js):
//
// - `overallRate` is a per-second quota, not a pace: it is split across the
//   connections, and every connection sends its share back to back as soon as
//   its one-second timer resets, then sits idle. With one instance the server
//   sees all 1,000 requests of a second arrive at once, at the start of that
//   second, as fast as the connections can push them, so the latency it reports
//   is that of a burst and depends mostly on how many connections there are.
//   To offer a steady 1,000 req/s we run `lanes` instances, each with
//   rate/lanes, started 1000/lanes ms apart, so a short burst arrives every
//   1000/lanes ms. `--lanes 1` gives plain autocannon behaviour.
// - Its latency histogram has 1 ms resolution, and under a rate limit it
//   "corrects" coordinated omission with an expected interval of
//   ceil(1 / per-connection rate) = 1 ms (seconds mistaken for milliseconds),
//   which adds made-up samples below every real one. We therefore ignore its
//   histogram and keep each response's own time from the 'response' event.

import { setTimeout as delay } from 'node:timers/promises';
import autocannon, { type AutocannonInstance, type AutocannonResult } from 'autocannon';
import type { CheckoutRequests } from './checkoutRequests.ts';

export interface AcceptLoadOptions {
  /** Full URL of POST /v1/checkouts. */
  readonly url: string;
  readonly rate: number;
  readonly durationSec: number;
  readonly lanes: number;
  readonly connectionsPerLane: number;
  readonly requests: CheckoutRequests;
  readonly signal?: AbortSignal;
}

export interface AcceptLoadResult {
  /** Requests written to a socket. */
  readonly sent: number;
  /** Responses by HTTP status. */
  readonly statusCounts: Readonly<Record<string, number>>;
  /** Connection errors and timeouts (autocannon counts timeouts among errors). */
  readonly errors: number;
  readonly timeouts: number;
  /** Latency of every 202, in ms, in arrival order. */
  readonly acceptedLatenciesMs: Float64Array;
  /** From the first lane's start to the last lane's end. */
  readonly wallSec: number;
  /** The time the offered rate was held: each lane runs this long. */
  readonly durationSec: number;
}

/** Splits `total` into `parts` integers that differ by at most one. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export function validateLoadShape(rate: number, lanes: number, connectionsPerLane: number): void {
  // autocannon gives a connection whose share rounds down to 0 no limit at all.
  const smallest = Math.floor(rate / lanes);
  if (smallest < connectionsPerLane) {
    throw new Error(
      `--rate ${rate} over ${lanes} lanes gives a lane ${smallest} req/s, fewer than its ${connectionsPerLane} connections; ` +
        'autocannon would then send without any limit. Use fewer lanes or connections.',
    );
  }
}

export async function runAcceptLoad(o: AcceptLoadOptions): Promise<AcceptLoadResult> {
  validateLoadShape(o.rate, o.lanes, o.connectionsPerLane);
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const instances: AutocannonInstance[] = [];
  let stopped = false;
  const stopAll = () => {
    stopped = true;
    for (const instance of instances) instance.stop();
  };
  o.signal?.addEventListener('abort', stopAll, { once: true });

  const sentBefore = o.requests.count;
  const t0 = performance.now();
  const rates = split(o.rate, o.lanes);
  try {
    const results = await Promise.all(
      rates.map(async (laneRate, lane): Promise<AutocannonResult | null> => {
        await delay((lane * 1000) / o.lanes);
        if (stopped) return null;
        return new Promise((resolve, reject) => {
          const instance = autocannon(
            {
              url: o.url,
              method: 'POST',
              connections: o.connectionsPerLane,
              overallRate: laneRate,
              duration: o.durationSec,
              timeout: 10,
              skipAggregateResult: true,
              requests: [
                {
                  setupRequest: (request) => {
                    const next = o.requests.next();
                    return { ...request, method: 'POST', headers: next.headers, body: next.body };
                  },
                },
              ],
            },
            (err, result) => (err ? reject(err) : resolve(result)),
          );
          instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
            const key = String(statusCode);
            statusCounts[key] = (statusCounts[key] ?? 0) + 1;
            if (statusCode === 202) latencies.push(responseTimeMs);
          });
          instances.push(instance);
          if (stopped) instance.stop();
        });
      }),
    );
    const finished = results.filter((r): r is AutocannonResult => r !== null);
    return {
      sent: o.requests.count - sentBefore,
      statusCounts,
      errors: finished.reduce((n, r) => n + r.errors, 0),
      timeouts: finished.reduce((n, r) => n + r.timeouts, 0),
      acceptedLatenciesMs: Float64Array.from(latencies),
      wallSec: (performance.now() - t0) / 1000,
      durationSec: o.durationSec,
    };
  } finally {
    o.signal?.removeEventListener('abort', stopAll);
  }
}
