import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Ledger } from '../../src/ledger/index.ts';
import type { CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';

async function openLedger() {
  const url = await freshDatabase();
  const ledger = await Ledger.open({ databaseUrl: url });
  const { catalog } = makeTestCatalog(2);
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
