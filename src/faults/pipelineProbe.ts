// What a fault scenario watches while it breaks something: the pipeline's
// counters read straight from the stores (the ledger directly, never through
// the fault proxy; the queue database) and a service's Prometheus counters.
// Reads that fail (the ledger is down: that is the fault) answer null rather
// than throw, so a scenario can keep sampling through its own fault.

import pg from 'pg';
import { countDeadLetters } from '../audit/queueAudit.ts';
import { queueStats } from '../queue/sql/inspectQueue.ts';
import { waitFor } from '../util/waitFor.ts';
import { unlessInterrupted } from './interrupt.ts';

export interface PipelineCounts {
  /** Checkouts the ledger committed (charged or declined). */
  readonly committed: number;
  readonly charged: number;
}

function pool(url: string): pg.Pool {
  // Short timeouts: a probe must report "down" quickly, not hang with the fault.
  const p = new pg.Pool({
    connectionString: url,
    max: 1,
    connectionTimeoutMillis: 2_000,
    query_timeout: 5_000,
  });
  p.on('error', () => {});
  return p;
}

export class PipelineProbe {
  private readonly ledger: pg.Pool;
  private readonly queue: pg.Pool;

  constructor(urls: { readonly ledgerUrl: string; readonly queueUrl: string }) {
    this.ledger = pool(urls.ledgerUrl);
    this.queue = pool(urls.queueUrl);
  }

  /** Ledger counts; null while the ledger cannot be read. */
  async counts(): Promise<PipelineCounts | null> {
    try {
      const r = await this.ledger.query<{ committed: string; charged: string }>(
        `SELECT count(*)::text committed, count(*) FILTER (WHERE status = 'charged')::text charged FROM checkouts`,
      );
      return { committed: Number(r.rows[0]?.committed), charged: Number(r.rows[0]?.charged) };
    } catch {
      return null;
    }
  }

  async committed(): Promise<number | null> {
    return (await this.counts())?.committed ?? null;
  }

  /**
   * Waits until the ledger holds at least n checkouts, so a fault lands on a
   * pipeline in motion; rejects when the drill is interrupted. `before` names
   * the fault in the timeout message ("the kill", "the storm").
   */
  async untilCommitted(n: number, before: string, signal: AbortSignal | undefined): Promise<void> {
    await unlessInterrupted(
      signal,
      waitFor(`checkouts to commit before ${before}`, async () => ((await this.committed()) ?? 0) >= n, {
        timeoutMs: 120_000,
        intervalMs: 100,
      }),
    );
  }

  async deadLetters(): Promise<number> {
    return countDeadLetters(this.queue);
  }

  /** Messages waiting or in flight (dead letters excluded). */
  async backlog(): Promise<{ visible: number; inFlight: number }> {
    const s = await queueStats(this.queue);
    return { visible: Number(s.visible), inFlight: Number(s.in_flight) };
  }

  /**
   * Checkout ids whose messages a worker holds right now (received, not yet
   * deleted, visibility not yet expired): the work a worker crash interrupts.
   */
  async inFlightCheckouts(): Promise<string[]> {
    const r = await this.queue.query<{ dedup_id: string }>(
      `SELECT m.dedup_id FROM queue_message m JOIN queue_group g USING (group_id)
        WHERE m.dead_lettered_at IS NULL AND m.receipt IS NOT NULL AND g.visible_at > now()`,
    );
    return r.rows.map((row) => row.dedup_id);
  }

  /** How many of these checkouts are settled: in the ledger, or dead-lettered. */
  async settledOf(checkoutIds: readonly string[]): Promise<number | null> {
    if (checkoutIds.length === 0) return 0;
    try {
      const inLedger = await this.ledger.query<{ id: string }>(
        'SELECT id::text FROM checkouts WHERE id = ANY($1::uuid[])',
        [checkoutIds],
      );
      const dead = await this.queue.query<{ dedup_id: string }>(
        'SELECT dedup_id FROM queue_message WHERE dead_lettered_at IS NOT NULL AND dedup_id = ANY($1::text[])',
        [checkoutIds],
      );
      return new Set([...inLedger.rows.map((r) => r.id), ...dead.rows.map((r) => r.dedup_id)]).size;
    } catch {
      return null;
    }
  }

  /** A round trip to the ledger through the given URL (e.g. the services' proxied one), in ms; a new connection each time. */
  static async roundTripMs(url: string, timeoutMs = 30_000): Promise<number> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
    client.on('error', () => {});
    await client.connect();
    try {
      const t = performance.now();
      await client.query('SELECT 1');
      return Math.round(performance.now() - t);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.ledger.end(), this.queue.end()]);
  }
}

/**
 * Sum of a Prometheus counter's series on a /metrics page, optionally only the
 * series whose labels include `label` (e.g. 'dependency="provider"'); null
 * when the page cannot be read (the service is down).
 */
export async function scrapeCounter(
  metricsUrl: string,
  name: string,
  label?: string,
): Promise<number | null> {
  try {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return null;
    const text = await res.text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
      if (label && !line.includes(label)) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
    return sum;
  } catch {
    return null;
  }
}

/** A seeded [0, 1) source from anything with int(min, max) (a SeededRandom). */
export function unitRandom(rng: { int(min: number, max: number): number }): () => number {
  return () => rng.int(0, 999_999) / 1_000_000;
}
