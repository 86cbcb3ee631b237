// The ledger database: Postgres, the system of record. Opening it applies the
// numbered migrations in ./migrations.
//
// commit() coalesces: the first checkouts whose commits arrive while another
// batch is being written go together in the next statement (commitOutcomes,
// group-commit style, no timer), so a worker settling many checkouts at once
// pays a few round trips per batch instead of a dozen per checkout.

import pg from 'pg';
import type { Catalog } from '../catalog/index.ts';
import { migrate } from '../db/migrate.ts';
import { isTransientDbError } from '../db/pgErrors.ts';
import { BatchCalls } from '../util/batchCalls.ts';
import { commitOutcome, commitOutcomes, type CommitInput, type CommitResult } from './commitOutcome.ts';

export interface LedgerOptions {
  readonly databaseUrl: string;
  readonly poolSize?: number;
  /** Bound on every statement so a hung server surfaces as an error, not a stuck worker. */
  readonly statementTimeoutMs?: number;
  readonly connectionTimeoutMs?: number;
  /** Most checkouts written by one statement (default 64). */
  readonly maxCommitBatch?: number;
}

/**
 * Batch statements in flight at once. One: commits that arrive while it runs
 * make the next batch, and that is what keeps batches large (two in flight
 * made them about a fifth smaller, for no gain; docs/performance.md).
 */
const COMMIT_BATCHES_IN_FLIGHT = 1;
const DEFAULT_MAX_COMMIT_BATCH = 64;

function ignoreClientError(): void {}
const guarded = new WeakSet<pg.PoolClient>();

export const LEDGER_MIGRATIONS = new URL('./migrations/', import.meta.url);

export class Ledger {
  readonly pool: pg.Pool;
  private readonly batches: BatchCalls<CommitInput, CommitResult>;

  private constructor(pool: pg.Pool, maxCommitBatch: number) {
    this.pool = pool;
    this.batches = new BatchCalls({
      run: (inputs) => this.commitBatch(inputs),
      maxBatch: maxCommitBatch,
      maxConcurrent: COMMIT_BATCHES_IN_FLIGHT,
      // A redelivered message can be committing while its first delivery still is:
      // they go in separate statements, and the later one finds the row.
      keyOf: (input) => input.message.checkoutId,
    });
  }

  static async migrate(databaseUrl: string): Promise<string[]> {
    return migrate({ databaseUrl, dir: LEDGER_MIGRATIONS, migrationsTable: 'ledger_migrations' });
  }

  /** Connects without migrating (services); see Ledger.migrate for set-up. */
  static connect(options: LedgerOptions): Ledger {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 2_000,
      statement_timeout: options.statementTimeoutMs ?? 10_000,
    });
    // An idle client losing its server (failover, kill) must not crash the process.
    pool.on('error', () => {});
    return new Ledger(pool, options.maxCommitBatch ?? DEFAULT_MAX_COMMIT_BATCH);
  }

  static async open(options: LedgerOptions): Promise<Ledger> {
    await Ledger.migrate(options.databaseUrl);
    return Ledger.connect(options);
  }

  /**
   * Checks out a client that cannot crash the process: a server that goes away
   * mid-transaction (failover, kill) makes a checked-out client emit 'error',
   * which node-postgres throws if nobody listens. The failed query rejects
   * anyway, so the listener only has to exist.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    // Attached once per client and never removed: the error can arrive after release, too.
    if (!guarded.has(client)) {
      guarded.add(client);
      client.on('error', ignoreClientError);
    }
    return client;
  }

  /**
   * Records a provider outcome, exactly once per checkout (a redelivery gets
   * already_recorded). First checkouts are written in batches with whatever
   * other commits are waiting; renewals, which also move a schedule under row
   * locks, in a transaction of their own.
   */
  async commit(input: CommitInput): Promise<CommitResult> {
    if (input.message.renewal) return this.commitAlone(input);
    return this.batches.submit(input);
  }

  private async commitAlone(input: CommitInput): Promise<CommitResult> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      return await commitOutcome(client, input);
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      // A client whose connection died mid-transaction must not go back to the pool.
      client.release(broken);
    }
  }

  /**
   * One statement for the batch. If it fails for a reason that is not the
   * database being unreachable (a constraint one checkout breaks, say), each
   * checkout is tried again on its own, so only the bad one fails. Transient
   * failures fail the whole batch: every caller retries (worker policy).
   */
  private async commitBatch(inputs: readonly CommitInput[]): Promise<PromiseSettledResult<CommitResult>[]> {
    try {
      return await commitOutcomes(this.pool, inputs);
    } catch (err) {
      if (inputs.length === 1 || isTransientDbError(err)) throw err;
      return Promise.all(
        inputs.map((input) =>
          commitOutcomes(this.pool, [input]).then(
            ([result]): PromiseSettledResult<CommitResult> =>
              result ?? { status: 'rejected', reason: new Error('no result') },
            (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason }),
          ),
        ),
      );
    }
  }

  /**
   * Runs `fn` in one transaction on a guarded client; BEGIN, COMMIT and
   * ROLLBACK are done here. A client whose ROLLBACK fails (its connection
   * died) is destroyed rather than pooled.
   */
  async transaction<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr as Error;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Records a failed provider call outside the charge transaction (best effort: it is diagnostics). */
  async recordProviderError(checkoutId: string, receiveCount: number, detail: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO charge_attempts (checkout_id, receive_count, outcome, detail) VALUES ($1, $2, 'provider_error', $3)`,
      [checkoutId, receiveCount, detail.slice(0, 500)],
    );
  }

  async isRecorded(checkoutId: string): Promise<boolean> {
    const res = await this.pool.query(`SELECT 1 FROM checkouts WHERE id = $1`, [checkoutId]);
    return res.rowCount === 1;
  }

  /** A round trip, for readiness and for the breaker's half-open probe. */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Upserts creators, plans and the FX snapshot of a catalog, so charges can reference them. */
  async seedCatalog(catalog: Catalog): Promise<void> {
    const client = await this.checkout();
    try {
      await client.query('BEGIN');
      for (const c of catalog.creators) {
        await client.query(
          `INSERT INTO creators (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`,
          [c.id, c.name],
        );
      }
      for (const p of catalog.plans) {
        await client.query(
          `INSERT INTO plans (id, creator_id, name, currency, amount_minor, cadence) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING`,
          [p.id, p.creatorId, p.name, p.currency, p.amountMinor, p.cadence],
        );
      }
      const rates: [string, string][] = [
        ['USD', '1'],
        ...Object.entries(catalog.fxRates).filter((e): e is [string, string] => e[1] !== undefined),
      ];
      for (const [currency, rate] of rates) {
        await client.query(
          `INSERT INTO fx_rate_snapshots (snapshot_id, currency, usd_per_unit) VALUES ($1, $2, $3)
           ON CONFLICT (snapshot_id, currency) DO NOTHING`,
          [catalog.fxSnapshotId, currency, rate],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.batches.idle();
    await this.pool.end();
  }
}
