// The swap itself, on a real Postgres: work already given to the old pool
// (a checked-out client, a caller waiting for one) finishes on it; new work
// goes to the new pool at once; the old pool ends only after all of that.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PostgresIntake } from '../../src/intake/PostgresIntake.ts';
import { drainAndEnd, SwappablePool } from '../../src/config/swappablePool.ts';
import { freshDatabase } from '../helpers/postgres.ts';

const pool = (url: string, name: string, max: number) => {
  const p = new pg.Pool({ connectionString: url, max, application_name: name });
  p.on('error', () => {});
  return p;
};

test('old work finishes on the old pool, new work uses the new one, and the old pool ends after both', async () => {
  const url = await freshDatabase();
  const old = pool(url, 'old-pool', 1);
  const next = pool(url, 'new-pool', 2);
  const swappable = new SwappablePool(old);
  assert.ok(swappable instanceof pg.Pool, 'stores that check instanceof pg.Pool accept it');
  const events: string[] = [];

  const held = await swappable.connect();
  const waiting = swappable
    .query<{ n: number }>('SELECT 1 AS n')
    .then((r) => events.push(`waiter got ${r.rows[0]?.n}`));
  assert.equal(old.waitingCount, 1);

  assert.equal(swappable.swap(next), old);
  const drained = drainAndEnd(old, 10_000).then((r) => {
    events.push('old pool ended');
    return r;
  });
  const { rows } = await swappable.query<{ app: string }>('SELECT current_setting($1) AS app', [
    'application_name',
  ]);
  events.push(`new work on ${rows[0]?.app}`);
  events.push('releasing the held client');
  held.release();
  await waiting;
  const result = await drained;
  assert.deepEqual(events, [
    'new work on new-pool',
    'releasing the held client',
    'waiter got 1',
    'old pool ended',
  ]);
  assert.equal(result.drained, true);
  assert.equal(result.busyAtSwap, 1);
  assert.equal(old.ended, true);
  assert.equal(old.totalCount, 0);
  assert.equal(swappable.totalCount, next.totalCount);
  await swappable.end();
  assert.equal(next.ended, true);
});

test('a drain that runs out of time ends the pool anyway and says so', async () => {
  const old = pool(await freshDatabase(), 'stuck', 1);
  const held = await old.connect();
  const result = await drainAndEnd(old, 200);
  assert.equal(result.drained, false);
  held.release();
  await new Promise<void>((resolve) => old.on('remove', () => resolve()));
  assert.equal(old.totalCount, 0);
});

test('the stores run on a SwappablePool unchanged', async () => {
  const url = await freshDatabase();
  const swappable = new SwappablePool(pool(url, 'a', 2));
  const intake = await PostgresIntake.open({ pool: swappable });
  const id = '00000000-0000-4000-8000-000000000001';
  await intake.record({
    checkoutId: id,
    creatorId: '00000000-0000-4000-8000-000000000002',
    requestHash: 'h',
  });
  await drainAndEnd(swappable.swap(pool(url, 'b', 2)), 5_000);
  assert.equal((await intake.get(id))?.checkoutId, id);
  await intake.close();
  await swappable.end();
});
