// The reconciler against real parts: a real ledger on Postgres and the real
// sandbox provider process, read over its HTTP API. Each kind of tampering is
// made the way a person with the owner's credentials would (the write-once
// guard switched off for the session), then one pass must find it, restore
// the true rows in one transaction with an audit row, and count it once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { checkoutRow, reconcileFixture, tamper } from './reconcileFixture.ts';

const UNBALANCED = `SELECT count(*)::int n FROM (
  SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
  HAVING sum(debit_usd_minor) <> sum(credit_usd_minor)) t`;

test("the write-once guard refuses the nightly job's rewrite, even from the owner, unless it is switched off", async (t) => {
  const f = await reconcileFixture(t);
  const m = await f.book();
  await assert.rejects(
    f.owner.query(`UPDATE checkouts SET status = 'failed', retry = true WHERE id = $1`, [m.checkoutId]),
    (err: Error & { code?: string }) =>
      err.code === '55000' && /written once: UPDATE on checkouts/.test(err.message),
  );
  await assert.rejects(f.owner.query(`DELETE FROM ledger_entries`), /written once: DELETE on ledger_entries/);
  await assert.rejects(
    f.owner.query(`UPDATE charges SET amount_minor = 1`),
    /written once: UPDATE on charges/,
  );
  const row = await checkoutRow(f.owner, m.checkoutId);
  assert.equal(row?.status, 'charged');
  assert.equal(row?.retry, false);
  // A careless operator turns the guard off for the table, rewrites, and turns it back on.
  await f.owner.query('BEGIN');
  await f.owner.query('ALTER TABLE checkouts DISABLE TRIGGER checkouts_outcome_write_once');
  await f.owner.query(`UPDATE checkouts SET status = 'failed', retry = true WHERE id = $1`, [m.checkoutId]);
  await f.owner.query('ALTER TABLE checkouts ENABLE TRIGGER checkouts_outcome_write_once');
  await f.owner.query('COMMIT');
  assert.equal((await checkoutRow(f.owner, m.checkoutId))?.status, 'failed');
  // Inserts (the commit path) are untouched.
  await f.book();
});

test("a checkout rewritten to 'failed' with retry set is found, restored from the provider's record, audited and counted once", async (t) => {
  const f = await reconcileFixture(t);
  const charged = await f.book();
  const declined = await f.book({ decline: true });
  const untouched = await f.book();
  const trueCharged = await checkoutRow(f.owner, charged.checkoutId);
  const trueDeclined = await checkoutRow(f.owner, declined.checkoutId);
  assert.equal(trueDeclined?.status, 'declined');
  const { reconciler, registry } = f.reconciler();
  assert.equal((await reconciler.runOnce()).differing, 0, 'a ledger nobody touched is consistent');

  const rewritten = await tamper(
    f.owner,
    `UPDATE checkouts SET status = 'failed', retry = true WHERE id = ANY($1::uuid[])`,
    [[charged.checkoutId, declined.checkoutId]],
  );
  assert.equal(rewritten, 2);
  const pass = await reconciler.runOnce();
  assert.equal(pass.checked, 3);
  assert.equal(pass.differing, 2);
  assert.equal(pass.repaired, 2);
  assert.deepEqual(await checkoutRow(f.owner, charged.checkoutId), trueCharged);
  assert.deepEqual(await checkoutRow(f.owner, declined.checkoutId), trueDeclined);

  const repairs = await f.owner.query<{
    checkout_id: string;
    kinds: string[];
    provider_status: string;
    before: { rows: { checkout: { status: string; retry: boolean } }; details: string[] };
    after: { rows: { checkout: { status: string; retry: boolean } } };
    detected_at: Date;
    repaired_at: Date;
  }>(`SELECT * FROM reconciliation_repairs ORDER BY id`);
  assert.equal(repairs.rowCount, 2);
  const byId = new Map(repairs.rows.map((r) => [r.checkout_id, r]));
  const r = byId.get(charged.checkoutId)!;
  assert.deepEqual(r.kinds, ['checkout_status']);
  assert.equal(r.provider_status, 'captured');
  assert.deepEqual(r.before.rows.checkout.status, 'failed');
  assert.equal(r.before.rows.checkout.retry, true);
  assert.match(r.before.details.join('\n'), /says failed \(retry set\).*the provider captured/);
  assert.deepEqual(r.after.rows.checkout.status, 'charged');
  assert.ok(r.repaired_at >= r.detected_at);
  assert.equal(byId.get(declined.checkoutId)?.provider_status, 'declined');
  assert.equal(await checkoutRow(f.owner, untouched.checkoutId).then((c) => c?.status), 'charged');

  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total', { kind: 'checkout_status' }), 2);
  assert.equal(await f.metric(registry, 'ledger_reconciliation_repairs_total'), 2);
  // Nothing left: the next pass repairs and counts nothing.
  const again = await reconciler.runOnce();
  assert.equal(again.differing, 0);
  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total'), 2);
  // The audit trail itself cannot be rewritten.
  await assert.rejects(f.owner.query(`DELETE FROM reconciliation_repairs`), /append-only/);
});

test('a charge whose amount was changed, and a journal that no longer balances, are restored to the cent', async (t) => {
  const f = await reconcileFixture(t);
  const a = await f.book({ amountMinor: '12345', currency: 'EUR' });
  const b = await f.book({ amountMinor: '5000', currency: 'JPY' });
  const c = await f.book({ amountMinor: '777', currency: 'USD' });
  const charges = async () =>
    (
      await f.owner.query<{ checkout_id: string; amount_minor: string; usd_minor: string }>(
        `SELECT checkout_id, amount_minor::text, usd_minor::text FROM charges ORDER BY checkout_id`,
      )
    ).rows;
  const entries = async () =>
    (
      await f.owner.query<{ account: string; debit: string; credit: string }>(
        `SELECT account, debit_usd_minor::text debit, credit_usd_minor::text credit FROM ledger_entries ORDER BY id`,
      )
    ).rows;
  const trueCharges = await charges();
  const trueEntries = await entries();
  const { reconciler, registry } = f.reconciler();

  // A cent moved on a charge (amount and its USD), and on one leg of a journal (unbalancing it).
  await tamper(
    f.owner,
    `UPDATE charges SET amount_minor = amount_minor - 1, usd_minor = usd_minor - 1 WHERE checkout_id = $1`,
    [a.checkoutId],
  );
  await tamper(
    f.owner,
    `UPDATE ledger_entries SET credit_usd_minor = credit_usd_minor + 1
      WHERE account = 'creator_payable' AND transaction_id =
        (SELECT lt.id FROM ledger_transactions lt JOIN charges ch ON ch.id = lt.charge_id WHERE ch.checkout_id = $1)`,
    [b.checkoutId],
  );
  // And a journal leg deleted outright.
  await tamper(
    f.owner,
    `DELETE FROM ledger_entries WHERE account = 'psp_clearing' AND transaction_id =
        (SELECT lt.id FROM ledger_transactions lt JOIN charges ch ON ch.id = lt.charge_id WHERE ch.checkout_id = $1)`,
    [c.checkoutId],
  );
  assert.equal((await f.owner.query<{ n: number }>(UNBALANCED)).rows[0]?.n, 2);

  const pass = await reconciler.runOnce();
  assert.equal(pass.repaired, 3);
  assert.deepEqual(await charges(), trueCharges);
  assert.equal((await f.owner.query<{ n: number }>(UNBALANCED)).rows[0]?.n, 0);
  const sorted = (rows: { account: string; debit: string; credit: string }[]) =>
    rows.map((r) => `${r.account} ${r.debit} ${r.credit}`).sort();
  assert.deepEqual(sorted(await entries()), sorted(trueEntries));
  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total', { kind: 'charge_amount' }), 1);
  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total', { kind: 'journal' }), 2);
  const kinds = (
    await f.owner.query<{ kinds: string[] }>(`SELECT kinds FROM reconciliation_repairs ORDER BY id`)
  ).rows.map((r) => r.kinds.join(','));
  assert.deepEqual(kinds.sort(), ['charge_amount', 'journal', 'journal']);
});

test('a row the provider knows nothing about is reported, left alone, and counted once while it stays', async (t) => {
  const f = await reconcileFixture(t);
  await f.book();
  const { reconciler, registry } = f.reconciler();
  const forged = randomUUID();
  await f.owner.query(
    `INSERT INTO checkouts (id, creator_id, customer_ref, currency, amount_minor, status, retry, provider_ref,
                            queue_sequence, accepted_at)
     VALUES ($1, $2, 'cus_forged', 'USD', 100, 'failed', true, 'cap_forged', 999, now())`,
    [forged, f.catalog.creators[0]!.id],
  );
  for (let i = 0; i < 2; i++) {
    const pass = await reconciler.runOnce();
    assert.equal(pass.differing, 1);
    assert.equal(pass.repaired, 0);
    assert.equal(pass.open, 1);
  }
  assert.equal(
    await f.metric(registry, 'ledger_tampering_detected_total', { kind: 'no_provider_record' }),
    1,
  );
  assert.equal(
    await f.metric(registry, 'ledger_reconciliation_unrepaired', { kind: 'no_provider_record' }),
    1,
  );
  assert.equal((await checkoutRow(f.owner, forged))?.status, 'failed', 'nothing is invented');
  assert.equal((await f.owner.query(`SELECT 1 FROM reconciliation_repairs`)).rowCount, 0);
  // A person removes it: the finding closes and the gauge drops.
  await tamper(f.owner, `DELETE FROM checkouts WHERE id = $1`, [forged]);
  assert.equal((await reconciler.runOnce()).open, 0);
  assert.equal(
    await f.metric(registry, 'ledger_reconciliation_unrepaired', { kind: 'no_provider_record' }),
    0,
  );
});

test('while the provider cannot be read, a pass fails and changes nothing', async (t) => {
  const f = await reconcileFixture(t);
  const m = await f.book();
  const { reconciler, registry } = f.reconciler();
  await tamper(f.owner, `UPDATE checkouts SET status = 'failed', retry = true WHERE id = $1`, [m.checkoutId]);
  await f.psp.stop();
  await assert.rejects(reconciler.runOnce(), /provider did not answer/);
  assert.equal((await checkoutRow(f.owner, m.checkoutId))?.status, 'failed');
  assert.equal(await f.metric(registry, 'ledger_reconciliation_passes_total', { outcome: 'error' }), 1);
  assert.equal(await f.metric(registry, 'ledger_tampering_detected_total'), 0);
});
