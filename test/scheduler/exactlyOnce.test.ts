// Exactly one queue message per (subscription, period, attempt): with two
// schedulers racing over the same due schedules, and with a scheduler that
// "crashes" between its claim and its send, or between its send and marking it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { decodeCheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { Ledger } from '../../src/ledger/index.ts';
import { RenewalScheduler, renewalCheckoutId } from '../../src/scheduler/index.ts';
import type { SendInput } from '../../src/queue/Queue.ts';
import { plusDays, renewalFixture } from './renewalFixture.ts';

const ANCHOR = '2027-05-31T09:00:00Z';

test('two schedulers running at once split the work and enqueue each renewal exactly once', async (t) => {
  const f = await renewalFixture(t, 3);
  const subs: string[] = [];
  for (let i = 0; i < 45; i++) {
    subs.push(await f.subscribe(i % 2 ? 'monthly' : 'weekly', plusDays(ANCHOR, i % 3).toISOString(), i % 3));
  }
  // The second scheduler has a pool of its own, as a second process would.
  const otherLedger = Ledger.connect({ databaseUrl: f.ledgerUrl });
  t.after(() => otherLedger.close());
  const sends = new Map<string, number>();
  const counting = (ledger: Ledger) =>
    new RenewalScheduler({
      ledger,
      queue: f.queue,
      registry: new Registry(),
      now: () => f.clock.now,
      batchSize: 4,
      send: async (input: SendInput) => {
        const result = await f.queue.send(input);
        if (!result.duplicate) sends.set(input.dedupId, (sends.get(input.dedupId) ?? 0) + 1);
        return result;
      },
    });
  const a = counting(f.ledger);
  const b = counting(otherLedger);

  for (const when of [plusDays(ANCHOR, 40), plusDays(ANCHOR, 75)]) {
    f.clock.now = when;
    const claimedBy = { a: 0, b: 0 };
    for (let round = 0; round < 3; round++) {
      const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
      claimedBy.a += ra.claimed.length;
      claimedBy.b += rb.claimed.length;
    }
    t.diagnostic(`claimed by a: ${claimedBy.a}, by b: ${claimedBy.b}`);
    // Each subscription's current period was claimed by one of them, once.
    assert.equal(claimedBy.a + claimedBy.b, subs.length);
    const queued = await f.queuedPerCheckout();
    for (const sub of subs) {
      const { period } = await f.subscription(sub);
      const id = renewalCheckoutId(sub, period, 1);
      assert.equal(queued.get(id), 1, `one message for ${sub} period ${period}`);
      assert.equal(sends.get(id), 1);
    }
    assert.equal(
      [...queued.values()].reduce((s, n) => s + n, 0),
      subs.length,
    );
    assert.equal((await f.settleQueued()).length, subs.length);
  }
  // Two periods each, both charged, nothing else.
  for (const sub of subs) {
    assert.deepEqual(
      (await f.renewals(sub)).map((r) => [r.period, r.attempt, r.status]),
      [
        [1, 1, 'charged'],
        [2, 1, 'charged'],
      ],
    );
  }
});

test('a scheduler that crashes between claim and send: the next run sends the claimed renewal once', async (t) => {
  const f = await renewalFixture(t);
  const sub = await f.subscribe('monthly', ANCHOR);
  f.clock.now = new Date('2027-06-30T09:00:00Z');
  const crashing = f.scheduler({
    send: () => Promise.reject(new Error('process died before sending')),
  });
  await assert.rejects(crashing.runOnce(), (err: Error) => {
    assert.match(err.message, /next run sends them/);
    assert.match((err.cause as Error).message, /process died/);
    return true;
  });
  // Claimed durably, not sent.
  const claimed = await f.subscription(sub);
  const id = renewalCheckoutId(sub, 1, 1);
  assert.equal(claimed.pending, id);
  assert.equal((await f.queuedPerCheckout()).size, 0);

  const next = f.scheduler();
  const run = await next.runOnce();
  assert.deepEqual([run.claimed.length, run.sent, run.duplicates], [0, 1, 0]);
  assert.deepEqual([...(await f.queuedPerCheckout())], [[id, 1]]);
  // And not again.
  const again = await next.runOnce();
  assert.deepEqual([again.claimed.length, again.sent], [0, 0]);
  assert.equal((await f.settleQueued()).length, 1);
  assert.deepEqual(
    (await f.renewals(sub)).map((r) => [r.period, r.status]),
    [[1, 'charged']],
  );
});

test('a scheduler that crashes after sending, before marking it sent: the re-send is a duplicate', async (t) => {
  const f = await renewalFixture(t);
  const subs = [await f.subscribe('weekly', ANCHOR), await f.subscribe('weekly', ANCHOR, 1)];
  f.clock.now = plusDays(ANCHOR, 7);
  let sends = 0;
  const crashing = f.scheduler({
    send: async (input) => {
      const result = await f.queue.send(input);
      if (++sends === 2) throw new Error('process died after the queue took it');
      return result;
    },
  });
  await assert.rejects(crashing.runOnce(), /next run sends them/);
  const unsent = await f.ledger.pool.query<{ n: number }>(
    `SELECT count(*)::int n FROM renewal_attempts WHERE enqueued_at IS NULL`,
  );
  assert.equal(unsent.rows[0]!.n, 1, 'the first send was marked, the second was not');

  const run = await f.scheduler().runOnce();
  assert.deepEqual([run.sent, run.duplicates], [1, 1]);
  const queued = await f.queuedPerCheckout();
  assert.deepEqual(
    subs.map((s) => queued.get(renewalCheckoutId(s, 1, 1))),
    [1, 1],
  );
  assert.equal((await f.settleQueued()).length, 2);
  // Delivering a renewal a second time (past the queue's dedup window) records nothing twice.
  const [first] = await f.ledger.pool
    .query<{ message: string }>(`SELECT message FROM renewal_attempts ORDER BY claimed_at LIMIT 1`)
    .then((r) => r.rows);
  const decoded = decodeCheckoutMessage(first!.message);
  assert.ok(decoded.ok);
  const replay = await f.ledger.commit({
    message: decoded.message,
    queueSequence: 99n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'cap_replay' },
  });
  assert.equal(replay.kind, 'already_recorded');
  for (const sub of subs) assert.equal((await f.subscription(sub)).period, 2);
});

test('an unmarked renewal the worker already settled is marked, not sent again', async (t) => {
  const f = await renewalFixture(t);
  const sub = await f.subscribe('yearly', '2028-02-29T12:00:00Z');
  f.clock.now = new Date('2029-02-28T12:00:00Z');
  const crashing = f.scheduler({
    send: async (input) => {
      await f.queue.send(input);
      throw new Error('process died after the queue took it');
    },
  });
  await assert.rejects(crashing.runOnce(), /next run sends them/);
  // The worker gets there first (and deletes the message: the queue may forget its dedup id).
  assert.equal((await f.settleQueued()).length, 1);
  const sends: string[] = [];
  const run = await f
    .scheduler({
      send: (input) => {
        sends.push(input.dedupId);
        return f.queue.send(input);
      },
    })
    .runOnce();
  assert.deepEqual([run.sent, run.duplicates, sends.length], [0, 0, 0]);
  assert.equal(run.stats.unsent, 0);
  assert.equal((await f.subscription(sub)).period, 2);
});
