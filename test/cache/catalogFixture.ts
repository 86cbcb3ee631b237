// Pieces of the catalog-lookup tests: the lookup tables on a database of the
// test file's Postgres server, synced from a catalog, and a source that
// counts the queries that reach the database and how many ran at once.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Catalog } from '../../src/catalog/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { sharedPostgres } from '../helpers/postgres.ts';
import {
  PostgresCatalogLookups,
  catalogLookupPool,
  migrateCatalogLookups,
  syncCatalogLookups,
  type CatalogLookupSource,
} from '../../src/cache/catalog/index.ts';

/** Wraps a source: every call is one query at the database. */
export class CountingSource implements CatalogLookupSource {
  queries = 0;
  active = 0;
  peakActive = 0;
  private readonly inner: CatalogLookupSource;

  constructor(inner: CatalogLookupSource) {
    this.inner = inner;
  }

  private async counted<T>(call: () => Promise<T>): Promise<T> {
    this.queries += 1;
    this.active += 1;
    this.peakActive = Math.max(this.peakActive, this.active);
    try {
      return await call();
    } finally {
      this.active -= 1;
    }
  }

  creatorPlans(id: string) {
    return this.counted(() => this.inner.creatorPlans(id));
  }
  plan(id: string) {
    return this.counted(() => this.inner.plan(id));
  }
  fxRate(currency: string) {
    return this.counted(() => this.inner.fxRate(currency));
  }
}

/** Migrates and syncs the lookup tables at `databaseUrl`; returns a counting source on a pool of `max`. */
export async function openCatalogSource(databaseUrl: string, catalog: Catalog, max = 4) {
  const pool = catalogLookupPool(databaseUrl, max);
  await migrateCatalogLookups(pool);
  await syncCatalogLookups(pool, catalog);
  const source = new CountingSource(new PostgresCatalogLookups(pool));
  return { pool, source };
}

/**
 * A database with the lookup tables migrated and synced, and statistics that
 * start at zero: it is cloned from a template that did the work, so the
 * migration's and the sync's own scans are not in its counters.
 */
export async function catalogDatabase(catalog: Catalog, serverName?: string): Promise<string> {
  const server = await sharedPostgres(serverName);
  const suffix = randomUUID().replaceAll('-', '').slice(0, 12);
  const templateUrl = await server.createDatabase(`tpl_${suffix}`);
  const pool = catalogLookupPool(templateUrl, 1);
  await migrateCatalogLookups(pool);
  await syncCatalogLookups(pool, catalog);
  await pool.end();
  // CREATE DATABASE ... TEMPLATE needs the template's last session to have gone.
  return waitFor('the template to be free', () =>
    server.createDatabase(`c_${suffix}`, `tpl_${suffix}`).catch((err: unknown) => {
      if (/being accessed by other users/.test(String(err))) return undefined;
      throw err;
    }),
  );
}

/**
 * Index or sequential scans of catalog_creator since the server last reset
 * its statistics, counted by Postgres itself: one per price-list query. The
 * count includes only what backends have flushed (at most once a second
 * while busy, and when they exit).
 */
export async function creatorTableScans(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = 'catalog_creator'`,
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}
