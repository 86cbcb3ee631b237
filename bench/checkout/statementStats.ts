// With --statements: pg_stat_statements on the queue and ledger servers, reset
// before a phase and read after it, to say how many SQL statements (round
// trips) one accepted or settled checkout costs and which ones take the time.
// Off by default: the extension's bookkeeping costs a little on every statement.

import pg from 'pg';

/** Settings for PostgresServer.start that load the extension. */
export const STATEMENT_STATS_SETTINGS = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'top',
  'pg_stat_statements.track_utility': 'on',
  // node-postgres sends unnamed statements, which Postgres parses and plans on every call.
  'pg_stat_statements.track_planning': 'on',
} as const;

export interface StatementRow {
  readonly query: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly meanMs: number;
  /** Planning time, apart from execution. */
  readonly planMs: number;
}

export interface StatementStats {
  readonly database: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly planMs: number;
  readonly top: readonly StatementRow[];
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function enableStatementStats(url: string): Promise<void> {
  await withClient(url, (c) => c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
}

export async function resetStatementStats(url: string): Promise<void> {
  await withClient(url, (c) => c.query('SELECT pg_stat_statements_reset()'));
}

/**
 * Top-level statements (one per client round trip; foreign-key checks and trigger SQL are
 * inside their statement's time) run in `url`'s database since the last reset, busiest
 * first, leaving out the bench's own reads.
 */
export async function readStatementStats(url: string, top = 12): Promise<StatementStats> {
  return withClient(url, async (c) => {
    const rows = await c.query<{
      query: string;
      calls: string;
      total_ms: number;
      mean_ms: number;
      plan_ms: number;
    }>(
      `SELECT regexp_replace(s.query, '\\s+', ' ', 'g') AS query, s.calls,
              s.total_exec_time AS total_ms, s.mean_exec_time AS mean_ms, s.total_plan_time AS plan_ms
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
       WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
         AND s.query NOT ILIKE '%count(*) AS n FROM checkouts%'
       ORDER BY s.total_exec_time DESC`,
    );
    const all = rows.rows.map((r) => ({
      query: r.query,
      calls: Number(r.calls),
      totalMs: r.total_ms,
      meanMs: r.mean_ms,
      planMs: r.plan_ms,
    }));
    return {
      database: (await c.query<{ d: string }>('SELECT current_database() AS d')).rows[0]?.d ?? '',
      calls: all.reduce((n, r) => n + r.calls, 0),
      totalMs: all.reduce((n, r) => n + r.totalMs, 0),
      planMs: all.reduce((n, r) => n + r.planMs, 0),
      top: all.slice(0, top),
    };
  });
}
