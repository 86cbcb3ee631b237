// The catalog a drill runs against: N creators with API keys and plans in a
// mix of currencies (including zero- and three-decimal ones), from the seed.

import { parseCatalog, sha256, type Catalog } from '../catalog/index.ts';
import type { SeededRandom } from '../util/seededRandom.ts';

export interface DrillCatalog {
  readonly catalog: Catalog;
  /** apiKeys.get(creatorId) is that creator's key. */
  readonly apiKeys: ReadonlyMap<string, string>;
}

/** Rates as of the drill's FX snapshot: USD per one whole unit. */
export const DRILL_FX_RATES = {
  EUR: '1.0842',
  GBP: '1.2675',
  CAD: '0.7312',
  AUD: '0.6541',
  CHF: '1.1298',
  BRL: '0.1987',
  JPY: '0.0067',
  KRW: '0.00074',
  KWD: '3.2543',
  BHD: '2.6525',
} as const;

const PLAN_SHAPES = [
  { currency: 'USD', amountMinor: '999', cadence: 'monthly' },
  { currency: 'EUR', amountMinor: '4900', cadence: 'yearly' },
  { currency: 'JPY', amountMinor: '1500', cadence: 'monthly' },
  { currency: 'KWD', amountMinor: '2750', cadence: 'weekly' },
  { currency: 'GBP', amountMinor: '500', cadence: 'monthly' },
] as const;

export function makeDrillCatalog(rng: SeededRandom, creators: number): DrillCatalog {
  const apiKeys = new Map<string, string>();
  const creatorList = Array.from({ length: creators }, (_, i) => {
    const id = rng.uuid();
    const key = `fbk_drill_${rng.token(32)}`;
    apiKeys.set(id, key);
    return { id, name: `Drill creator ${i + 1}`, apiKeySha256: [sha256(key)] };
  });
  const plans = creatorList.flatMap((c) =>
    [rng.pick(PLAN_SHAPES), rng.pick(PLAN_SHAPES)].map((shape, j) => ({
      id: rng.uuid(),
      creatorId: c.id,
      name: `${c.name} plan ${j + 1}`,
      ...shape,
    })),
  );
  const catalog = parseCatalog(
    { creators: creatorList, plans, fxRates: DRILL_FX_RATES, fxSnapshotId: 'fx-drill-2026-11' },
    'drill catalog',
  );
  return { catalog, apiKeys };
}
