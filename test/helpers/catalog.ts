// A small deterministic catalog for tests: creators with known API keys.

import { randomUUID } from 'node:crypto';
import { parseCatalog, sha256, type Catalog } from '../../src/catalog/index.ts';
import { DRILL_FX_RATES } from '../../src/drill/drillCatalog.ts';

export interface TestCatalog {
  readonly catalog: Catalog;
  /** apiKeys[i] belongs to catalog.creators[i]. */
  readonly apiKeys: string[];
}

export function makeTestCatalog(creators = 2): TestCatalog {
  const apiKeys: string[] = [];
  const list = Array.from({ length: creators }, (_, i) => {
    const key = `fbk_test_${i}_${randomUUID()}`;
    apiKeys.push(key);
    return { id: randomUUID(), name: `Creator ${i}`, apiKeySha256: [sha256(key)] };
  });
  const catalog = parseCatalog({
    creators: list,
    plans: list.flatMap((c, i) => [
      {
        id: randomUUID(),
        creatorId: c.id,
        name: 'Monthly',
        currency: 'USD',
        amountMinor: '999',
        cadence: 'monthly',
      },
      {
        id: randomUUID(),
        creatorId: c.id,
        name: 'Yearly JPY',
        currency: 'JPY',
        amountMinor: String(12000 + i),
        cadence: 'yearly',
      },
    ]),
    fxRates: DRILL_FX_RATES,
    fxSnapshotId: 'fx-test-1',
  });
  return { catalog, apiKeys };
}
