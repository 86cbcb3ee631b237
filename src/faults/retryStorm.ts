// Badly behaved clients, for the retry-storm scenario: many at once, each
// sending checkouts and, on a 503 or a broken connection, retrying the same
// request immediately — no backoff, Retry-After ignored. That is the client
// behaviour that turned the write-up's 12 s blip into an outage. The storm
// keeps the same Idempotency-Key across its retries (so an accepted checkout
// is accepted once), and records every checkout it was told was accepted, so
// the scenario can check none of them is lost.

import type { AcceptedCheckout, PlannedCheckout } from '../drill/traffic.ts';

export interface StormOptions {
  readonly apiUrl: string;
  /** The checkouts to send, shared by all clients in order. */
  readonly planned: readonly PlannedCheckout[];
  readonly clients: number;
  /** The storm stops starting new requests after this long. */
  readonly durationMs: number;
  /**
   * A client gives up on a request after this long and sends it again at once
   * (default 10 s). Short, as in the write-up's storm: a client that times out
   * before a slow server answers doubles the load exactly when it hurts.
   */
  readonly requestTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface StormResult {
  readonly requests: number;
  readonly accepted: AcceptedCheckout[];
  /** 503 answers (load shed or store unavailable). */
  readonly shed: number;
  /** 503 answers without a Retry-After header: the API shed without telling the client when to come back. */
  readonly shedWithoutRetryAfter: number;
  /** Error codes of the 503s, counted. */
  readonly shedCodes: Record<string, number>;
  /** Answers that were neither 202, a 4xx nor a 503 (e.g. 500): the API failed rather than shed. */
  readonly otherErrors: number;
  /** Requests that failed without an answer: the client's own timeout, or a broken connection. */
  readonly networkErrors: number;
  /** Of those, the client's own timeouts. */
  readonly timeouts: number;
  /** Requests that were immediate retries of an unanswered checkout. */
  readonly retries: number;
  /** 4xx answers: a storm request the API refused as invalid (should be none). */
  readonly rejected: number;
  readonly durationMs: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export async function retryStorm(o: StormOptions): Promise<StormResult> {
  const r = {
    requests: 0,
    accepted: [] as AcceptedCheckout[],
    shed: 0,
    shedWithoutRetryAfter: 0,
    shedCodes: {} as Record<string, number>,
    otherErrors: 0,
    networkErrors: 0,
    timeouts: 0,
    retries: 0,
    rejected: 0,
  };
  const started = performance.now();
  const over = () => performance.now() - started >= o.durationMs || o.signal?.aborted === true;
  let next = 0;
  const client = async () => {
    while (!over() && next < o.planned.length) {
      const c = o.planned[next++]!;
      for (let attempt = 1; !over(); attempt++) {
        if (attempt > 1) r.retries++;
        r.requests++;
        let res: Response;
        try {
          res = await fetch(`${o.apiUrl}/v1/checkouts`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${c.apiKey}`,
              'idempotency-key': c.idempotencyKey,
              'content-type': 'application/json',
            },
            body: JSON.stringify(c.body),
            signal: AbortSignal.timeout(o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
          });
        } catch (err) {
          r.networkErrors++;
          if ((err as Error).name === 'TimeoutError') r.timeouts++;
          continue; // no backoff: that is the point
        }
        const json = (await res.json().catch(() => ({}))) as {
          checkoutId?: string;
          error?: { code?: string };
        };
        if (res.status === 202 && json.checkoutId) {
          r.accepted.push({
            seq: c.seq,
            checkoutId: json.checkoutId,
            creatorId: c.creatorId,
            acceptedAtMs: Date.now(),
          });
          break;
        }
        if (res.status === 503) {
          r.shed++;
          const code = json.error?.code ?? 'none';
          r.shedCodes[code] = (r.shedCodes[code] ?? 0) + 1;
          if (!res.headers.get('retry-after')) r.shedWithoutRetryAfter++;
          continue;
        }
        if (res.status >= 400 && res.status < 500) {
          r.rejected++;
          break;
        }
        r.otherErrors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.clients) }, client));
  return { ...r, durationMs: Math.round(performance.now() - started) };
}
