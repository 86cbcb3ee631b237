// The bench's clients: every request a new checkout (a unique Idempotency-Key),
// from creators taken in turn, with a valid body in the same mix the drill
// sends (src/drill/traffic.ts): ~30% name one of the creator's plans, the rest
// an amount in one of the supported currencies.

import type { DrillCatalog } from '../../src/drill/drillCatalog.ts';
import { CURRENCY_EXPONENTS, SUPPORTED_CURRENCIES } from '../../src/money/index.ts';

export interface CheckoutRequestSpec {
  readonly headers: Record<string, string>;
  readonly body: string;
}

interface CreatorInfo {
  readonly id: string;
  readonly authorization: string;
  readonly planIds: readonly string[];
}

export class CheckoutRequests {
  private readonly creators: readonly CreatorInfo[];
  private readonly runId: string;
  private issued = 0;

  constructor(drillCatalog: DrillCatalog, runId: string) {
    const { catalog, apiKeys } = drillCatalog;
    this.runId = runId;
    this.creators = catalog.creators.map((c) => ({
      id: c.id,
      authorization: `Bearer ${apiKeys.get(c.id) ?? ''}`,
      planIds: catalog.plans.filter((p) => p.creatorId === c.id).map((p) => p.id),
    }));
    if (this.creators.length === 0) throw new Error('the bench catalog has no creators');
  }

  /** How many requests have been built so far (each one a distinct checkout). */
  get count(): number {
    return this.issued;
  }

  next(): CheckoutRequestSpec {
    const i = this.issued++;
    const creator = this.creators[i % this.creators.length]!;
    const customerRef = `cus_bench_${i}`;
    let body: Record<string, string>;
    if (i % 10 < 3 && creator.planIds.length > 0) {
      body = { creatorId: creator.id, customerRef, planId: creator.planIds[i % creator.planIds.length]! };
    } else {
      const currency = SUPPORTED_CURRENCIES[i % SUPPORTED_CURRENCIES.length]!;
      // 1 to 5,000 whole units in the currency's own minor units, spread by a prime stride.
      const max = 5_000 * 10 ** CURRENCY_EXPONENTS[currency];
      body = { creatorId: creator.id, customerRef, amountMinor: String(1 + ((i * 7_919) % max)), currency };
    }
    return {
      headers: {
        authorization: creator.authorization,
        'idempotency-key': `bench-${this.runId}-${i}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    };
  }
}
