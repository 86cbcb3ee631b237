// The settle phase: with N checkouts waiting in the queue, start the worker
// and time how long the ledger takes to hold all of them, polling the ledger
// with a deadline (never a fixed sleep). The rate is reported two ways: wall
// clock from the worker's ready message to the last poll that saw all N, and
// from the ledger's own commit timestamps (first to last committed_at), which
// leaves out the worker's start-up and the poll interval.

import pg from 'pg';
import { waitFor } from '../../src/util/waitFor.ts';

export interface SettleOptions {
  readonly ledgerUrl: string;
  readonly expected: number;
  readonly timeoutSec: number;
  readonly startWorker: () => Promise<void>;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface SettleResult {
  readonly expected: number;
  readonly settled: number;
  readonly complete: boolean;
  /** Worker ready → ledger holds all N (or the deadline). */
  readonly wallSec: number;
  readonly settledPerSecWall: number;
  /** First to last committed_at in the ledger. */
  readonly commitSpanSec: number;
  readonly settledPerSecLedger: number;
  readonly charged: number;
  readonly declined: number;
}

const POLL_INTERVAL_MS = 100;

export async function runSettlePhase(o: SettleOptions): Promise<SettleResult> {
  const pool = new pg.Pool({ connectionString: o.ledgerUrl, max: 1 });
  pool.on('error', () => {});
  const count = async () =>
    Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM checkouts')).rows[0]?.n ?? 0);
  try {
    await o.startWorker();
    const t0 = performance.now();
    let settled = 0;
    let lastReport = t0;
    let complete = true;
    await waitFor(
      `the ledger to hold all ${o.expected} checkouts`,
      async () => {
        if (o.signal?.aborted) return true;
        settled = await count();
        if (performance.now() - lastReport > 2_000) {
          lastReport = performance.now();
          o.progress(`settle: ${settled}/${o.expected} in the ledger`);
        }
        return settled >= o.expected;
      },
      { timeoutMs: o.timeoutSec * 1000, intervalMs: POLL_INTERVAL_MS },
    ).catch((err: unknown) => {
      complete = false;
      o.progress(`settle: ${(err as Error).message}; reporting what settled`);
    });
    const wallSec = (performance.now() - t0) / 1000;
    if (o.signal?.aborted) complete = false;
    const span = await pool.query<{ span: number | null; charged: string; declined: string }>(
      `SELECT extract(epoch FROM max(committed_at) - min(committed_at))::float8 AS span,
              count(*) FILTER (WHERE status = 'charged') AS charged,
              count(*) FILTER (WHERE status = 'declined') AS declined
       FROM checkouts`,
    );
    const row = span.rows[0];
    const commitSpanSec = row?.span ?? 0;
    settled = await count();
    return {
      expected: o.expected,
      settled,
      complete: complete && settled >= o.expected,
      wallSec,
      settledPerSecWall: wallSec > 0 ? settled / wallSec : 0,
      commitSpanSec,
      // N commits span N-1 intervals.
      settledPerSecLedger: commitSpanSec > 0 ? (settled - 1) / commitSpanSec : 0,
      charged: Number(row?.charged ?? 0),
      declined: Number(row?.declined ?? 0),
    };
  } finally {
    await pool.end();
  }
}
