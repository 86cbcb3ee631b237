// Evidence that nothing was written: what the cross-env drill
// (src/drill/scenarios/crossEnv.ts) and the fence's tests compare before and
// after a refused process ran against a resource.
//
// Postgres, three independent views:
// - the database's own write counters, pg_stat_database.tup_inserted /
//   tup_updated / tup_deleted (every relation, system catalogs included, so
//   DDL such as a migration's CREATE TABLE counts too). Backends report them
//   when they end, so they are read only once no other backend is connected;
// - the list of relations in the public schema (a migration would add some);
// - the exact row count of every table in it.
// Redis: every key and its value, and rdb_changes_since_last_save, the
// server's own count of writes since its last save (never, for the servers
// Firebreak starts: they run with --save "").

import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { waitFor } from '../../util/waitFor.ts';

export interface PostgresEvidence {
  readonly tuplesInserted: number;
  readonly tuplesUpdated: number;
  readonly tuplesDeleted: number;
  readonly relations: readonly string[];
  readonly rowCounts: Readonly<Record<string, number>>;
}

export interface RedisEvidence {
  readonly keys: number;
  /** sha256 over every key, its type and its value (strings) or length (others). */
  readonly digest: string;
  readonly writesSinceStart: number;
}

export async function postgresEvidence(url: string, { timeoutMs = 30_000 } = {}): Promise<PostgresEvidence> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    // Stats of a backend reach pg_stat_database when it ends: wait for every other one to be gone.
    await waitFor(
      'no other backend connected to the database',
      async () => {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        return rows[0]?.n === 0;
      },
      { timeoutMs },
    );
    await client.query('SELECT pg_stat_clear_snapshot()');
    const stats = await client.query<{ ins: string; upd: string; del: string }>(
      `SELECT tup_inserted AS ins, tup_updated AS upd, tup_deleted AS del FROM pg_stat_database WHERE datname = current_database()`,
    );
    const relations = await client.query<{ name: string; kind: string }>(
      `SELECT relname AS name, relkind AS kind FROM pg_class
        WHERE relnamespace = 'public'::regnamespace ORDER BY relname`,
    );
    const rowCounts: Record<string, number> = {};
    for (const r of relations.rows.filter((r) => r.kind === 'r' || r.kind === 'p')) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM public.${pg.escapeIdentifier(r.name)}`,
      );
      rowCounts[r.name] = rows[0]?.n ?? 0;
    }
    const s = stats.rows[0]!;
    return {
      tuplesInserted: Number(s.ins),
      tuplesUpdated: Number(s.upd),
      tuplesDeleted: Number(s.del),
      relations: relations.rows.map((r) => `${r.name} (${r.kind})`),
      rowCounts,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

export async function redisEvidence(url: string): Promise<RedisEvidence> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  await client.connect();
  try {
    const hash = createHash('sha256');
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1_000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    for (const key of keys.sort()) {
      const type = await client.type(key);
      const value = type === 'string' ? await client.get(key) : String(await client.memory('USAGE', key));
      hash.update(`${key}\0${type}\0${value}\0`);
    }
    const info = await client.info('persistence');
    return {
      keys: keys.length,
      digest: hash.digest('hex'),
      writesSinceStart: Number(/rdb_changes_since_last_save:(\d+)/.exec(info)?.[1] ?? NaN),
    };
  } finally {
    client.disconnect();
  }
}

/** Sentences naming what changed between two Postgres snapshots; empty when nothing did. */
export function postgresChanges(what: string, before: PostgresEvidence, after: PostgresEvidence): string[] {
  const out: string[] = [];
  for (const k of ['tuplesInserted', 'tuplesUpdated', 'tuplesDeleted'] as const) {
    if (after[k] !== before[k])
      out.push(`${what}: pg_stat_database ${k} went from ${before[k]} to ${after[k]}`);
  }
  if (after.relations.join() !== before.relations.join())
    out.push(`${what}: its relations changed (${before.relations.length} -> ${after.relations.length})`);
  for (const [table, n] of Object.entries(after.rowCounts)) {
    if (before.rowCounts[table] !== n)
      out.push(`${what}: ${table} has ${n} rows, had ${before.rowCounts[table]}`);
  }
  return out;
}

export function redisChanges(what: string, before: RedisEvidence, after: RedisEvidence): string[] {
  const out: string[] = [];
  if (after.writesSinceStart !== before.writesSinceStart)
    out.push(
      `${what}: ${after.writesSinceStart - before.writesSinceStart} write(s) (rdb_changes_since_last_save)`,
    );
  if (after.digest !== before.digest)
    out.push(`${what}: its keys or values changed (${before.keys} -> ${after.keys} keys)`);
  return out;
}
