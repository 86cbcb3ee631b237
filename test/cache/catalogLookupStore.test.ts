// The lookup tables in the API's own database: migrated under their own
// migrations table, synced from the catalog file (and re-synced when it
// changes), and read by the three fallback queries, whose results are exactly
// what the cache schemas accept.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { parseCatalog } from '../../src/catalog/index.ts';
import {
  catalogLookupPool,
  CreatorPlansSchema,
  FxRateSchema,
  PlanSchema,
  PostgresCatalogLookups,
  migrateCatalogLookups,
  syncCatalogLookups,
} from '../../src/cache/catalog/index.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import {
  CREATOR_A,
  CREATOR_B,
  PLAN_A_JPY,
  PLAN_A_USD,
  PLAN_B_EUR,
  UNKNOWN_CREATOR_ID,
  catalogDocument,
} from '../api/apiFixture.ts';
import { catalogDatabase, creatorTableScans, openCatalogSource } from './catalogFixture.ts';
import { waitFor } from '../../src/util/waitFor.ts';

let databaseUrl: string;
let pool: pg.Pool;
let lookups: PostgresCatalogLookups;

before(async () => {
  databaseUrl = await freshDatabase();
  ({ pool } = await openCatalogSource(databaseUrl, parseCatalog(catalogDocument)));
  lookups = new PostgresCatalogLookups(pool);
});
after(async () => {
  await pool.end();
});

test('migrations are recorded in their own table and applying them again is a no-op', async () => {
  assert.deepEqual(await migrateCatalogLookups(pool), []);
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM catalog_lookup_migrations');
  assert.deepEqual(
    rows.map((r) => r.name),
    ['0001_catalog_lookup'],
  );
});

test('a price list: the creator and its plans in plan id order, money as minor-unit strings', async () => {
  const list = await lookups.creatorPlans(CREATOR_A.id);
  assert.deepEqual(list, {
    creatorId: CREATOR_A.id,
    creatorName: 'Creator A',
    plans: [
      { planId: PLAN_A_USD, name: 'A monthly', currency: 'USD', amountMinor: '999', cadence: 'monthly' },
      { planId: PLAN_A_JPY, name: 'A yearly', currency: 'JPY', amountMinor: '12000', cadence: 'yearly' },
    ].sort((a, b) => a.planId.localeCompare(b.planId)),
  });
  CreatorPlansSchema.parse(list);
  assert.equal(await lookups.creatorPlans(UNKNOWN_CREATOR_ID), null);
});

test('a plan and an FX rate (exact decimals; USD is 1)', async () => {
  const plan = await lookups.plan(PLAN_B_EUR);
  assert.deepEqual(plan, {
    planId: PLAN_B_EUR,
    creatorId: CREATOR_B.id,
    name: 'B weekly',
    currency: 'EUR',
    amountMinor: '250',
    cadence: 'weekly',
  });
  PlanSchema.parse(plan);
  assert.deepEqual(await lookups.fxRate('JPY'), {
    currency: 'JPY',
    usdPerUnit: '0.006712',
    snapshotId: 'test-fx-1',
  });
  assert.deepEqual(await lookups.fxRate('USD'), {
    currency: 'USD',
    usdPerUnit: '1',
    snapshotId: 'test-fx-1',
  });
  FxRateSchema.parse(await lookups.fxRate('KWD'));
  assert.equal(await lookups.plan(UNKNOWN_CREATOR_ID), null);
  assert.equal(await lookups.fxRate('XXX'), null);
});

test('a re-sync makes the tables match a changed catalog: price changed, plan and creator removed', async () => {
  const changed = structuredClone(catalogDocument);
  changed.plans = changed.plans.filter((p) => p.id !== PLAN_A_JPY && p.creatorId !== CREATOR_B.id);
  changed.plans[0]!.amountMinor = '1099';
  changed.creators = changed.creators.filter((c) => c.id !== CREATOR_B.id);
  changed.fxSnapshotId = 'test-fx-2';
  const db = await freshDatabase();
  const { pool: other } = await openCatalogSource(db, parseCatalog(catalogDocument));
  try {
    assert.deepEqual(await syncCatalogLookups(other, parseCatalog(changed)), {
      creators: 1,
      plans: 1,
      fxRates: 11,
    });
    const reads = new PostgresCatalogLookups(other);
    assert.deepEqual((await reads.creatorPlans(CREATOR_A.id))?.plans, [
      { planId: PLAN_A_USD, name: 'A monthly', currency: 'USD', amountMinor: '1099', cadence: 'monthly' },
    ]);
    assert.equal(await reads.creatorPlans(CREATOR_B.id), null);
    assert.equal(await reads.plan(PLAN_B_EUR), null);
    assert.equal((await reads.fxRate('EUR'))?.snapshotId, 'test-fx-2');
  } finally {
    await other.end();
  }
});

test('each price-list query is one scan of catalog_creator, as Postgres counts it (what the load test relies on)', async () => {
  const db = await catalogDatabase(parseCatalog(catalogDocument));
  assert.equal(await creatorTableScans(db), 0, 'a clone starts with zero statistics');
  const counted = catalogLookupPool(db, 2);
  const reads = new PostgresCatalogLookups(counted);
  for (let i = 0; i < 7; i++) await reads.creatorPlans(i % 2 ? CREATOR_A.id : UNKNOWN_CREATOR_ID);
  // Backends flush their statistics when they exit.
  await counted.end();
  await waitFor('the scans to be flushed', async () => (await creatorTableScans(db)) >= 7);
  assert.equal(await creatorTableScans(db), 7);
});
