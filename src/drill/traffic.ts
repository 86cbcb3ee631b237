// The drill's clients: a seeded burst of checkouts sent to the API over real
// HTTP, each retried with the same Idempotency-Key (and backoff) when the API
// answers 503 or the connection fails — what a well-behaved client does.

import { setTimeout as delay } from 'node:timers/promises';
import { CURRENCY_EXPONENTS, SUPPORTED_CURRENCIES } from '../money/index.ts';
import { jitteredDelayMs } from '../resilience/index.ts';
import type { SeededRandom } from '../util/seededRandom.ts';
import type { DrillCatalog } from './drillCatalog.ts';

export interface PlannedCheckout {
  readonly seq: number;
  readonly creatorId: string;
  readonly apiKey: string;
  readonly idempotencyKey: string;
  readonly body: Readonly<Record<string, string>>;
}

export interface AcceptedCheckout {
  readonly seq: number;
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly acceptedAtMs: number;
}

export interface TrafficResult {
  readonly accepted: AcceptedCheckout[];
  /** Requests that ended without a 202 after all retries. */
  readonly failed: { seq: number; status: number; code: string }[];
  /** Responses a client saw that were not 202 (5xx, network errors), including ones later retried. */
  clientVisibleErrors: number;
  clientRetries: number;
  readonly acceptLatenciesMs: number[];
}

export function planTraffic(rng: SeededRandom, drillCatalog: DrillCatalog, count: number): PlannedCheckout[] {
  const { catalog, apiKeys } = drillCatalog;
  return Array.from({ length: count }, (_, seq) => {
    const creator = rng.pick(catalog.creators);
    const plans = catalog.plans.filter((p) => p.creatorId === creator.id);
    const customerRef = `cus_${rng.token(10)}`;
    let body: Record<string, string>;
    if (plans.length > 0 && rng.chance(0.3)) {
      body = { creatorId: creator.id, customerRef, planId: rng.pick(plans).id };
    } else {
      const currency = rng.pick(SUPPORTED_CURRENCIES);
      // Amounts from 1 to ~5,000 whole units in the currency's own minor units.
      const max = 5_000 * 10 ** CURRENCY_EXPONENTS[currency];
      body = { creatorId: creator.id, customerRef, amountMinor: String(rng.int(1, max)), currency };
    }
    return {
      seq,
      creatorId: creator.id,
      apiKey: apiKeys.get(creator.id)!,
      idempotencyKey: `drill-${seq}-${rng.token(12)}`,
      body,
    };
  });
}

export interface SendOptions {
  readonly apiUrl: string;
  readonly planned: readonly PlannedCheckout[];
  readonly concurrency: number;
  readonly maxAttempts?: number;
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
  /** Bumped as responses arrive (the run journal's live counters). */
  readonly live?: { accepted: number; clientErrors: number };
}

export async function sendTraffic(options: SendOptions): Promise<TrafficResult> {
  const result: TrafficResult = {
    accepted: [],
    failed: [],
    clientVisibleErrors: 0,
    clientRetries: 0,
    acceptLatenciesMs: [],
  };
  const maxAttempts = options.maxAttempts ?? 12;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < options.planned.length && !options.signal?.aborted) {
      const checkout = options.planned[next++]!;
      await sendOne(options.apiUrl, checkout, maxAttempts, result, options.live);
      options.onProgress?.(++done, options.planned.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  result.accepted.sort((a, b) => a.seq - b.seq);
  return result;
}

async function sendOne(
  apiUrl: string,
  c: PlannedCheckout,
  maxAttempts: number,
  result: TrafficResult,
  live: SendOptions['live'],
) {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const started = performance.now();
    let status = 0;
    let code = 'NETWORK_ERROR';
    try {
      const res = await fetch(`${apiUrl}/v1/checkouts`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${c.apiKey}`,
          'idempotency-key': c.idempotencyKey,
          'content-type': 'application/json',
        },
        body: JSON.stringify(c.body),
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      const json = (await res.json()) as { checkoutId?: string; error?: { code?: string } };
      if (status === 202 && json.checkoutId) {
        result.acceptLatenciesMs.push(performance.now() - started);
        result.accepted.push({
          seq: c.seq,
          checkoutId: json.checkoutId,
          creatorId: c.creatorId,
          acceptedAtMs: Date.now(),
        });
        if (live) live.accepted++;
        return;
      }
      code = json.error?.code ?? `HTTP_${status}`;
    } catch {
      // network error or timeout: retry with the same key
    }
    if (status >= 400 && status < 500) {
      result.failed.push({ seq: c.seq, status, code });
      return;
    }
    result.clientVisibleErrors++;
    if (live) live.clientErrors++;
    if (attempt === maxAttempts) {
      result.failed.push({ seq: c.seq, status, code });
      return;
    }
    result.clientRetries++;
    await delay(jitteredDelayMs(attempt, 100, 3_000));
  }
}
