// The database side of the catalog lookups: the tables' migrations, the sync
// from the catalog file, and the three reads the cache falls back to. Each
// read is one statement on a primary key or one index range, so a fallback
// costs the database a few index pages, never a scan of the catalog.

import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Catalog } from '../../catalog/index.ts';
import { migrate } from '../../db/migrate.ts';
import type { CreatorPlans, FxRate, PlanDetail } from './catalogSchemas.ts';

export const CATALOG_LOOKUP_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
export const CATALOG_LOOKUP_MIGRATIONS_TABLE = 'catalog_lookup_migrations';

/** The reads a catalog cache falls back to (the port; tests wrap it to count queries). */
export interface CatalogLookupSource {
  creatorPlans(creatorId: string, signal?: AbortSignal): Promise<CreatorPlans | null>;
  plan(planId: string, signal?: AbortSignal): Promise<PlanDetail | null>;
  fxRate(currency: string, signal?: AbortSignal): Promise<FxRate | null>;
}

/** Applies the lookup tables' migrations on a client of the pool. */
export async function migrateCatalogLookups(pool: pg.Pool): Promise<string[]> {
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    return await migrate({
      dbClient: client,
      dir: CATALOG_LOOKUP_MIGRATIONS_DIR,
      migrationsTable: CATALOG_LOOKUP_MIGRATIONS_TABLE,
    });
  } catch (err) {
    // The session may still hold the migration lock or an aborted transaction.
    failed = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(failed);
  }
}

/** Any constant: serialises syncs of API instances that start together. */
const SYNC_LOCK = 0x66625f63; // 'fb_c'

/**
 * Makes the lookup tables hold exactly `catalog` (upsert, then delete what it
 * no longer has), in one transaction. Cached entries catch up within their TTL.
 */
export async function syncCatalogLookups(
  pool: pg.Pool,
  catalog: Catalog,
): Promise<{ creators: number; plans: number; fxRates: number }> {
  const rates: [string, string][] = [
    ['USD', '1'],
    ...Object.entries(catalog.fxRates).flatMap(([c, r]): [string, string][] =>
      r === undefined ? [] : [[c, r]],
    ),
  ];
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SYNC_LOCK]);
    await client.query(
      `INSERT INTO catalog_creator (creator_id, name)
       SELECT * FROM unnest($1::uuid[], $2::text[])
       ON CONFLICT (creator_id) DO UPDATE SET name = excluded.name`,
      [catalog.creators.map((c) => c.id), catalog.creators.map((c) => c.name)],
    );
    await client.query('DELETE FROM catalog_creator WHERE NOT (creator_id = ANY ($1::uuid[]))', [
      catalog.creators.map((c) => c.id),
    ]);
    const p = catalog.plans;
    await client.query(
      `INSERT INTO catalog_plan (plan_id, creator_id, name, currency, amount_minor, cadence)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[])
       ON CONFLICT (plan_id) DO UPDATE SET creator_id = excluded.creator_id, name = excluded.name,
         currency = excluded.currency, amount_minor = excluded.amount_minor, cadence = excluded.cadence`,
      [
        p.map((x) => x.id),
        p.map((x) => x.creatorId),
        p.map((x) => x.name),
        p.map((x) => x.currency),
        p.map((x) => x.amountMinor),
        p.map((x) => x.cadence),
      ],
    );
    await client.query('DELETE FROM catalog_plan WHERE NOT (plan_id = ANY ($1::uuid[]))', [
      p.map((x) => x.id),
    ]);
    await client.query(
      `INSERT INTO catalog_fx_rate (currency, usd_per_unit, snapshot_id)
       SELECT c, r, $3 FROM unnest($1::text[], $2::numeric[]) AS t (c, r)
       ON CONFLICT (currency) DO UPDATE SET usd_per_unit = excluded.usd_per_unit, snapshot_id = excluded.snapshot_id`,
      [rates.map(([c]) => c), rates.map(([, r]) => r), catalog.fxSnapshotId],
    );
    await client.query('DELETE FROM catalog_fx_rate WHERE NOT (currency = ANY ($1::text[]))', [
      rates.map(([c]) => c),
    ]);
    await client.query('COMMIT');
    return { creators: catalog.creators.length, plans: p.length, fxRates: rates.length };
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}

// One statement: the creator's row and its plans, in plan id order. The
// plans subquery runs only when the creator exists.
const CREATOR_PLANS_SQL = `
SELECT c.creator_id::text AS "creatorId", c.name AS "creatorName",
  coalesce((SELECT json_agg(json_build_object(
      'planId', p.plan_id, 'name', p.name, 'currency', p.currency,
      'amountMinor', p.amount_minor::text, 'cadence', p.cadence) ORDER BY p.plan_id)
    FROM catalog_plan p WHERE p.creator_id = c.creator_id), '[]'::json) AS plans
FROM catalog_creator c WHERE c.creator_id = $1`;

const PLAN_SQL = `
SELECT plan_id::text AS "planId", creator_id::text AS "creatorId", name, currency,
  amount_minor::text AS "amountMinor", cadence
FROM catalog_plan WHERE plan_id = $1`;

const FX_RATE_SQL = `
SELECT currency, usd_per_unit::text AS "usdPerUnit", snapshot_id AS "snapshotId"
FROM catalog_fx_rate WHERE currency = $1`;

/** The reads, on a pool (catalogLookupPool: small, with a statement timeout). */
export class PostgresCatalogLookups implements CatalogLookupSource {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async creatorPlans(creatorId: string): Promise<CreatorPlans | null> {
    const { rows } = await this.pool.query<CreatorPlans>({
      name: 'catalog_creator_plans',
      text: CREATOR_PLANS_SQL,
      values: [creatorId],
    });
    return rows[0] ?? null;
  }

  async plan(planId: string): Promise<PlanDetail | null> {
    const { rows } = await this.pool.query<PlanDetail>({
      name: 'catalog_plan',
      text: PLAN_SQL,
      values: [planId],
    });
    return rows[0] ?? null;
  }

  async fxRate(currency: string): Promise<FxRate | null> {
    const { rows } = await this.pool.query<FxRate>({
      name: 'catalog_fx_rate',
      text: FX_RATE_SQL,
      values: [currency],
    });
    return rows[0] ?? null;
  }
}
