// Time to recovery, measured from outside: from a moment (a fault healed, a
// primary killed) to the first charge the ledger committed after it. Probe
// checkouts keep arriving while it waits, so an idle drill still recovers
// observably. The ledger is read directly (it may be down: errors just mean
// "not yet").

import pg from 'pg';

export interface FirstCommitOptions {
  readonly ledgerUrl: string;
  /** A performance.now() time. */
  readonly since: number;
  readonly timeoutMs: number;
  /** Sends one probe checkout; called about once a second while waiting. */
  readonly probe: () => Promise<unknown>;
  readonly signal?: AbortSignal;
}

async function firstChargeAfter(ledgerUrl: string, sinceEpochMs: number): Promise<number | null> {
  const client = new pg.Client({
    connectionString: ledgerUrl,
    connectionTimeoutMillis: 1_000,
    query_timeout: 2_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const res = await client.query<{ t: string | null }>(
      `SELECT (extract(epoch FROM min(committed_at)) * 1000)::text t
         FROM checkouts WHERE status = 'charged' AND committed_at > to_timestamp($1::float8 / 1000)`,
      [sinceEpochMs],
    );
    const t = res.rows[0]?.t;
    return t === null || t === undefined ? null : Number(t);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Milliseconds from `since` to the first charge committed after it; rejects after timeoutMs. */
export async function firstCommitAfter(o: FirstCommitOptions): Promise<number> {
  const sinceEpochMs = performance.timeOrigin + o.since;
  const deadline = performance.now() + o.timeoutMs;
  let lastProbe = 0;
  for (;;) {
    const at = await firstChargeAfter(o.ledgerUrl, sinceEpochMs);
    if (at !== null) return Math.max(0, Math.round(at - sinceEpochMs));
    if (o.signal?.aborted) throw new Error('interrupted while waiting for a charge to commit');
    if (performance.now() > deadline)
      throw new Error(`no charge committed within ${Math.round(o.timeoutMs / 1000)}s`);
    if (performance.now() - lastProbe > 1_000) {
      lastProbe = performance.now();
      o.probe().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
