import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Ledger } from '../../src/ledger/index.ts';
import type { CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';

async function openLedger(creators = 2) {
  const url = await freshDatabase();
  const ledger = await Ledger.open({ databaseUrl: url });
  const { catalog } = makeTestCatalog(creators);
  await ledger.seedCatalog(catalog);
  return { ledger, catalog };
}

function message(creatorId: string, over: Partial<CheckoutMessage> = {}): CheckoutMessage {
  return {
    v: 1,
    checkoutId: randomUUID(),
    creatorId,
    customerRef: 'cus_1',
    planId: null,
    amountMinor: '1000',
    currency: 'EUR',
    acceptedAt: new Date().toISOString(),
    ...over,
  };
}

test('a captured charge commits checkout, charge, balanced journal and outbox in one transaction', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const creator = catalog.creators[0]!.id;
  const m = message(creator);
  const res = await ledger.commit({
    message: m,
    queueSequence: 1n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'cap_1' },
  });
  assert.equal(res.kind, 'committed');
  assert.equal(res.kind === 'committed' && res.usdMinor, 1084n);
  const q = (sql: string): Promise<unknown[]> => ledger.pool.query(sql).then((r) => r.rows as unknown[]);
  assert.deepEqual(await q(`SELECT status, amount_minor::text FROM checkouts`), [
    { status: 'charged', amount_minor: '1000' },
  ]);
  assert.deepEqual(await q(`SELECT usd_minor::text, fx_snapshot_id FROM charges`), [
    { usd_minor: '1084', fx_snapshot_id: 'fx-test-1' },
  ]);
  assert.deepEqual(
    await q(`SELECT sum(debit_usd_minor)::text d, sum(credit_usd_minor)::text c FROM ledger_entries`),
    [{ d: '1084', c: '1084' }],
  );
  assert.deepEqual(await q(`SELECT event_type FROM outbox`), [{ event_type: 'charge.captured' }]);
});

test('a redelivered message finds its row and records nothing twice', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const m = message(catalog.creators[0]!.id);
  const input = {
    message: m,
    queueSequence: 1n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'cap_x' },
  } as const;
  assert.equal((await ledger.commit(input)).kind, 'committed');
  assert.equal((await ledger.commit({ ...input, receiveCount: 2 })).kind, 'already_recorded');
  const counts = await ledger.pool.query(
    `SELECT (SELECT count(*) FROM charges)::int charges, (SELECT count(*) FROM outbox)::int events, (SELECT count(*) FROM ledger_entries)::int entries`,
  );
  assert.deepEqual(counts.rows[0], { charges: 1, events: 1, entries: 2 });
});

test('a plan checkout starts a subscription with exactly one next settlement', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const plan = catalog.plans[0]!;
  const m = message(plan.creatorId, {
    planId: plan.id,
    amountMinor: plan.amountMinor,
    currency: plan.currency,
    acceptedAt: '2026-01-31T10:00:00.000Z',
  });
  await ledger.commit({
    message: m,
    queueSequence: 7n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'c' },
  });
  const rows = await ledger.pool.query(`SELECT period, next_charge_at FROM settlement_schedules`);
  assert.equal(rows.rowCount, 1);
  assert.equal(
    (rows.rows[0] as { next_charge_at: Date }).next_charge_at.toISOString(),
    '2026-02-28T10:00:00.000Z',
  );
});

test('a decline records the checkout and an event but no charge or journal', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const m = message(catalog.creators[1]!.id, { currency: 'KWD', amountMinor: '1250' });
  await ledger.commit({
    message: m,
    queueSequence: 3n,
    receiveCount: 1,
    outcome: { kind: 'declined', providerRef: 'dec_1', declineCode: 'insufficient_funds' },
  });
  const r = await ledger.pool.query(
    `SELECT (SELECT status FROM checkouts) s, (SELECT count(*) FROM charges)::int c, (SELECT event_type FROM outbox) e`,
  );
  assert.deepEqual(r.rows[0], { s: 'declined', c: 0, e: 'checkout.declined' });
});

test('the journal refuses an unbalanced transaction', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const m = message(catalog.creators[0]!.id);
  await ledger.commit({
    message: m,
    queueSequence: 1n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'c1' },
  });
  await assert.rejects(
    ledger.pool.query(
      `INSERT INTO ledger_entries (transaction_id, account, debit_usd_minor) SELECT id, 'psp_clearing', 1 FROM ledger_transactions`,
    ),
    /does not balance/,
  );
});

test('concurrent commits are written together, each exactly once, with every row of every checkout', async (t) => {
  const { ledger, catalog } = await openLedger(20);
  t.after(() => ledger.close());
  const plan = catalog.plans[1]!; // yearly JPY
  const inputs = catalog.creators.map((c, i) => {
    const onPlan = i % 3 === 0;
    const m = message(
      c.id,
      onPlan ? { planId: plan.id, amountMinor: plan.amountMinor, currency: 'JPY' } : {},
    );
    const outcome =
      i % 4 === 1
        ? ({ kind: 'declined', providerRef: `dec_${i}`, declineCode: 'card_declined' } as const)
        : ({ kind: 'captured', captureId: `cap_${i}` } as const);
    return { message: m, queueSequence: BigInt(i + 1), receiveCount: 1, outcome };
  });
  const results = await Promise.all(inputs.map((input) => ledger.commit(input)));
  assert.ok(results.every((r) => r.kind === 'committed'));
  const captured = inputs.filter((i) => i.outcome.kind === 'captured');
  const q = async (sql: string) => (await ledger.pool.query(sql)).rows[0] as Record<string, unknown>;
  assert.deepEqual(
    await q(`SELECT (SELECT count(*) FROM checkouts)::int checkouts, (SELECT count(*) FROM charges)::int charges,
                    (SELECT count(*) FROM ledger_transactions)::int journal, (SELECT count(*) FROM ledger_entries)::int entries,
                    (SELECT count(*) FROM outbox)::int events, (SELECT count(*) FROM charge_attempts)::int attempts,
                    (SELECT count(*) FROM settlement_schedules)::int schedules`),
    {
      checkouts: 20,
      charges: captured.length,
      journal: captured.length,
      entries: 2 * captured.length,
      events: 20,
      attempts: 20,
      schedules: captured.filter((i) => i.message.planId !== null).length,
    },
  );
  assert.deepEqual(
    await q(`SELECT sum(debit_usd_minor)::text d, sum(credit_usd_minor)::text c FROM ledger_entries`),
    (() => {
      const total = results
        .reduce((s, r) => s + (r.kind === 'committed' ? (r.usdMinor ?? 0n) : 0n), 0n)
        .toString();
      return { d: total, c: total };
    })(),
  );
  // One statement is one transaction: its rows share now(). Twenty separate commits would not.
  const batches = await q(`SELECT count(DISTINCT committed_at)::int n FROM checkouts`);
  assert.ok((batches.n as number) <= 2, `written in ${String(batches.n)} transactions`);
  // Redelivered, all at once: nothing is written twice.
  const again = await Promise.all(inputs.map((input) => ledger.commit({ ...input, receiveCount: 2 })));
  assert.ok(again.every((r) => r.kind === 'already_recorded'));
  assert.deepEqual(await q(`SELECT count(*)::int n FROM charge_attempts`), { n: 20 });
});

test('the same checkout committed twice at once is written once', async (t) => {
  const { ledger, catalog } = await openLedger();
  t.after(() => ledger.close());
  const input = {
    message: message(catalog.creators[0]!.id),
    queueSequence: 1n,
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: 'cap_twice' },
  } as const;
  const results = await Promise.all([ledger.commit(input), ledger.commit({ ...input, receiveCount: 2 })]);
  assert.deepEqual(results.map((r) => r.kind).sort(), ['already_recorded', 'committed']);
  const counts = await ledger.pool.query(
    `SELECT (SELECT count(*) FROM charges)::int charges, (SELECT count(*) FROM charge_attempts)::int attempts`,
  );
  assert.deepEqual(counts.rows[0], { charges: 1, attempts: 1 });
});

test('a checkout the ledger refuses fails alone; the others of its batch commit', async (t) => {
  const { ledger, catalog } = await openLedger(6);
  t.after(() => ledger.close());
  const good = catalog.creators.slice(0, 4).map((c, i) => ({
    message: message(c.id),
    queueSequence: BigInt(i + 1),
    receiveCount: 1,
    outcome: { kind: 'captured', captureId: `cap_good_${i}` } as const,
  }));
  // Unknown to the ledger: caught before the statement (no plan) ...
  const noPlan = {
    ...good[0]!,
    message: message(catalog.creators[4]!.id, { planId: randomUUID() }),
    outcome: { kind: 'captured', captureId: 'cap_no_plan' } as const,
  };
  // ... and only by the statement itself (no such creator: a foreign key).
  // Each with its own capture id: a shared one could trip the unique capture id before the foreign key.
  const noCreator = {
    ...good[0]!,
    message: message(randomUUID()),
    outcome: { kind: 'captured', captureId: 'cap_no_creator' } as const,
  };
  const settled = await Promise.allSettled([noCreator, ...good, noPlan].map((input) => ledger.commit(input)));
  const reason = (s: PromiseSettledResult<unknown> | undefined) =>
    s?.status === 'rejected' ? String(s.reason) : '';
  assert.match(reason(settled[0]), /foreign key/);
  assert.match(reason(settled.at(-1)), /is not in the ledger/);
  assert.deepEqual(
    settled.slice(1, -1).map((s) => s.status === 'fulfilled' && s.value.kind),
    ['committed', 'committed', 'committed', 'committed'],
  );
  const counts = await ledger.pool.query(
    `SELECT (SELECT count(*) FROM checkouts)::int checkouts, (SELECT count(*) FROM charges)::int charges,
            (SELECT count(*) FROM outbox)::int events`,
  );
  assert.deepEqual(counts.rows[0], { checkouts: 4, charges: 4, events: 4 });
});
