// The real queue and intake (Postgres adapters) on a fresh database of the
// test file's Postgres server, and the "nothing was recorded" check the
// bad-input tests end with.

import assert from 'node:assert/strict';
import { queuePool } from '../../src/api/queuePool.ts';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import { freshDatabase } from '../helpers/postgres.ts';

export interface TestStores {
  readonly databaseUrl: string;
  readonly queue: PostgresQueue;
  readonly intake: PostgresIntake;
  /** Rows in the intake table, read directly. */
  intakeRows(): Promise<number>;
  close(): Promise<void>;
}

export interface OpenStoresOptions {
  /** Which shared Postgres server of the test file (see test/helpers/postgres.ts). */
  readonly server?: string;
  readonly maxReceiveCount?: number;
}

export async function openStores(options: OpenStoresOptions = {}): Promise<TestStores> {
  const databaseUrl = await freshDatabase(options.server);
  // One pool for both, with an error listener, as src/api/main.ts does: an idle
  // connection killed by a database restart must not crash the test process.
  const pool = queuePool(databaseUrl);
  const queue = await PostgresQueue.open({
    pool,
    ...(options.maxReceiveCount === undefined ? {} : { maxReceiveCount: options.maxReceiveCount }),
  });
  const intake = await PostgresIntake.open({ pool });
  return {
    databaseUrl,
    queue,
    intake,
    async intakeRows() {
      const result = await pool.query<{ n: string }>('SELECT count(*) AS n FROM checkout_intake');
      return Number(result.rows[0]?.n);
    },
    async close() {
      await Promise.allSettled([queue.close(), intake.close()]);
      await pool.end();
    },
  };
}

/** Fails unless the queue holds no message at all and the intake no row. */
export async function assertNothingRecorded(stores: TestStores): Promise<void> {
  const stats = await stores.queue.stats();
  assert.deepEqual(
    { visible: stats.visible, inFlight: stats.inFlight, deadLettered: stats.deadLettered },
    { visible: 0, inFlight: 0, deadLettered: 0 },
    'a rejected request must not queue anything',
  );
  assert.equal(await stores.intakeRows(), 0, 'a rejected request must not leave an intake row');
}
