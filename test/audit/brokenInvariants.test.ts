// The auditor against real stores: a real embedded stack (two Postgres
// servers, the sandbox provider, API, worker, relay and scheduler as
// processes, events on the file sink) takes a small seeded burst and passes
// the audit. Then each test breaks one invariant in the real stores the way a
// bug or a careless operator would — a second capture at the provider, a cent
// of drift in the journal, a commit out of order, an event gone from the bus —
// and shows that the audit names it and that the drill's own verdict
// (src/drill/verdict.ts, what `firebreak drill` exits with) fails. Each test
// then undoes its damage and shows the audit passes again, so the next one
// starts from a clean stack and no failure leaks into another.
//
// The file sink rather than Kafka: a record cannot be deleted from a Kafka
// topic, so "an event went missing" can only be staged on the file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { audit } from '../../src/audit/auditor.ts';
import { auditEvents } from '../../src/audit/eventsAudit.ts';
import { auditRenewals } from '../../src/audit/renewalsAudit.ts';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../../src/drill/embeddedStack.ts';
import { planTraffic, sendTraffic, type AcceptedCheckout } from '../../src/drill/traffic.ts';
import { drillVerdict } from '../../src/drill/verdict.ts';
import { outboxStats } from '../../src/outbox/outboxSql.ts';
import { captureFilePath, readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';

const CHECKOUTS = 60;
const CREATORS = 4;

let stack: EmbeddedStack;
let ledger: pg.Client;
let accepted: AcceptedCheckout[] = [];

before(async () => {
  const seed = 'broken-invariants';
  const rng = new SeededRandom(seed);
  const drillCatalog = makeDrillCatalog(rng, CREATORS);
  stack = await EmbeddedStack.start({
    workDir: await mkdtemp(join(tmpdir(), 'firebreak-test-')),
    drillCatalog,
    rng,
    seed,
    visibilityTimeoutSec: 5,
    maxReceiveCount: 3,
    workerConcurrency: 8,
    // Declines too, so the audits see both outcomes (and checkout.declined events).
    providerFaults: { declineRate: 0.1, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
    eventBus: 'file',
  });
  // The reconciler (src/reconcile) would find and repair the ledger tampering below within a
  // second — that is the row-rewrite drill's subject. Here the claim is the auditor's own,
  // so the tampering must stay put until it looks.
  await stack.reconciler?.stop();
  ledger = new pg.Client({ connectionString: stack.ledgerUrl });
  ledger.on('error', () => {});
  await ledger.connect();
  const sent = await sendTraffic({
    apiUrl: stack.apiUrl,
    planned: planTraffic(rng, drillCatalog, CHECKOUTS),
    concurrency: 8,
  });
  assert.equal(sent.accepted.length, CHECKOUTS, 'every checkout of the burst was accepted');
  accepted = sent.accepted;
  await waitFor(
    'every checkout to settle',
    async () => (await count('SELECT count(*) n FROM checkouts')) >= CHECKOUTS,
    {
      timeoutMs: 120_000,
      intervalMs: 100,
    },
  );
  await waitFor('the outbox to drain', async () => (await outboxStats(ledger)).unpublished === 0, {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
});

after(async () => {
  await ledger?.end().catch(() => {});
  await stack?.stop();
});

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return Number((await ledger.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
}

/** Every audit the drill runs, from outside the services, and the drill's verdict over them. */
async function auditAll() {
  const invariants = await audit({
    ledgerUrl: stack.ledgerUrl,
    queueUrl: stack.queueUrl,
    providerDataDir: stack.pspDataDir,
    accepted,
  });
  const events = await auditEvents({
    ledgerUrl: stack.ledgerUrl,
    topic: stack.eventTopic,
    read: () => stack.readEvents(),
  });
  const renewals = await auditRenewals(stack.ledgerUrl, new Date(Date.now() + stack.schedulerClockOffsetMs));
  const { verdict, violations } = drillVerdict({
    invariants,
    events,
    renewals,
    notAccepted: 0,
    scenarios: {},
  });
  return { invariants, events, renewals, verdict, violations };
}

async function assertAuditPasses(when: string): Promise<void> {
  const r = await auditAll();
  assert.deepEqual(r.violations, [], `${when}: the audit passes`);
  assert.equal(r.verdict, 'pass', when);
}

/** A charged checkout's journal transaction, its creator, and the cents it booked. */
async function someCharge(): Promise<{
  checkoutId: string;
  creatorId: string;
  transactionId: string;
  usd: bigint;
}> {
  const row = (
    await ledger.query<{ checkout_id: string; creator_id: string; transaction_id: string; usd: string }>(
      `SELECT ch.checkout_id, ch.creator_id, t.id transaction_id, ch.usd_minor::text usd
         FROM charges ch JOIN ledger_transactions t ON t.charge_id = ch.id
        WHERE ch.usd_minor > 0 ORDER BY ch.checkout_id LIMIT 1`,
    )
  ).rows[0];
  assert.ok(row, 'the burst charged at least one checkout');
  return {
    checkoutId: row.checkout_id,
    creatorId: row.creator_id,
    transactionId: row.transaction_id,
    usd: BigInt(row.usd),
  };
}

async function creatorPayable(creatorId: string): Promise<bigint> {
  const r = await ledger.query<{ usd: string }>(
    `SELECT (sum(credit_usd_minor) - sum(debit_usd_minor))::text usd
       FROM ledger_entries WHERE account = 'creator_payable' AND creator_id = $1`,
    [creatorId],
  );
  return BigInt(r.rows[0]?.usd ?? '0');
}

/** Runs statements in one ledger transaction; rolls back and rethrows if any (or the commit) fails. */
async function inTransaction(statements: [string, unknown[]?][]): Promise<void> {
  await ledger.query('BEGIN');
  try {
    for (const [sql, params] of statements) await ledger.query(sql, params);
    await ledger.query('COMMIT');
  } catch (err) {
    await ledger.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

// The write-once guard (migration 0003) refuses UPDATE of journal rows unless
// the transaction says it is a repair; a buggy repair job says so.
const AS_A_REPAIR_JOB: [string] = [
  `SELECT set_config('firebreak.ledger_repair', 'test: a buggy repair job', true)`,
];
// A careless operator goes further: with replication role "replica" no
// ordinary trigger fires — neither the write-once guard nor the deferred
// constraint trigger that refuses an unbalanced journal at commit.
const TRIGGERS_OFF: [string] = [`SET LOCAL session_replication_role = replica`];

test('the stack as the burst left it passes every audit and the drill verdict', async () => {
  const r = await auditAll();
  assert.deepEqual(r.violations, []);
  assert.equal(r.verdict, 'pass');
  assert.equal(r.invariants.accepted, CHECKOUTS);
  assert.equal(r.invariants.charged + r.invariants.declined, CHECKOUTS, 'every checkout reached the ledger');
  assert.ok(r.invariants.charged > 0 && r.invariants.declined > 0, 'both outcomes are present');
  assert.equal(r.events.committed, CHECKOUTS);
  assert.equal(r.events.missing, 0);
});

test('a double capture: a second capture at the provider for a charged checkout fails the verdict', async () => {
  const records = await readCaptureRecord(stack.pspDataDir);
  const original = records.find((r) => r.status === 'captured');
  assert.ok(original, 'the provider captured at least one checkout');
  const before = await readFile(captureFilePath(stack.pspDataDir));
  // A retry with a fresh idempotency key, as a worker that lost its key would send: the
  // provider cannot know it is the same checkout and charges the customer again.
  await stack.setProviderFaults({ declineRate: 0 });
  const res = await fetch(`${stack.pspUrl}/v1/captures`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'idempotency-key': `lost-key-retry-${original.checkoutId}`,
    },
    body: JSON.stringify({
      checkoutId: original.checkoutId,
      creatorId: original.creatorId,
      customerRef: original.customerRef,
      amountMinor: original.amountMinor.toString(),
      currency: original.currency,
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(((await res.json()) as { status: string }).status, 'captured');

  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.equal(r.invariants.doubleCharged, 1);
  assert.deepEqual(r.violations, [
    `no-double-charge: checkout ${original.checkoutId} captured 2 times at the provider`,
  ]);

  // Undo: the provider's record as it was (nothing is captured after this point).
  await writeFile(captureFilePath(stack.pspDataDir), before);
  await assertAuditPasses('after the extra capture is removed');
});

test('a cent of drift that keeps the journal balanced: only reconciliation to the provider catches it', async () => {
  const charge = await someCharge();
  const payableBefore = await creatorPayable(charge.creatorId);
  const moveCent = (delta: number): [string, unknown[]][] => [
    [
      `UPDATE ledger_entries SET debit_usd_minor = debit_usd_minor + $2 WHERE transaction_id = $1 AND account = 'psp_clearing'`,
      [charge.transactionId, delta],
    ],
    [
      `UPDATE ledger_entries SET credit_usd_minor = credit_usd_minor + $2 WHERE transaction_id = $1 AND account = 'creator_payable'`,
      [charge.transactionId, delta],
    ],
  ];
  // Past the write-once guard but not the balance trigger: both sides move, so the database accepts it.
  await inTransaction([AS_A_REPAIR_JOB, ...moveCent(1)]);
  assert.equal(await creatorPayable(charge.creatorId), payableBefore + 1n);

  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.equal(r.invariants.unbalancedTransactions, 0, 'the journal still balances');
  assert.equal(r.invariants.driftCents, 1n);
  assert.deepEqual(r.violations, [
    `cent-exact: creator ${charge.creatorId} booked ${payableBefore + 1n} USD cents, provider record gives ${payableBefore}`,
  ]);

  await inTransaction([AS_A_REPAIR_JOB, ...moveCent(-1)]);
  await assertAuditPasses('after the cent is moved back');
});

test("a cent of drift in a charge row's USD amount (journal untouched) fails the verdict", async () => {
  const charge = await someCharge();
  const nudge = (delta: number): [string, unknown[]] => [
    `UPDATE charges SET usd_minor = usd_minor + $2 WHERE checkout_id = $1`,
    [charge.checkoutId, delta],
  ];
  await inTransaction([AS_A_REPAIR_JOB, nudge(1)]);

  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.deepEqual(r.violations, [
    `cent-exact: the charge for ${charge.checkoutId} is booked as ${charge.usd + 1n} USD cents, the provider's capture converts to ${charge.usd}`,
  ]);

  await inTransaction([AS_A_REPAIR_JOB, nudge(-1)]);
  await assertAuditPasses('after the charge is put back');
});

test('a one-sided cent: the database refuses it at commit; with triggers disabled it lands and the audit fails', async () => {
  const charge = await someCharge();
  const nudge = (delta: number): [string, unknown[]] => [
    `UPDATE ledger_entries SET debit_usd_minor = debit_usd_minor + $2 WHERE transaction_id = $1 AND account = 'psp_clearing'`,
    [charge.transactionId, delta],
  ];
  // The deferred constraint trigger refuses the unbalanced journal at COMMIT (SQLSTATE 23514).
  await assert.rejects(inTransaction([AS_A_REPAIR_JOB, nudge(1)]), (err: pg.DatabaseError) => {
    assert.equal(err.code, '23514');
    assert.match(err.message, /does not balance/);
    return true;
  });
  await assertAuditPasses('after the refused update');

  // A careless operator disables triggers for the session (session_replication_role = replica).
  await inTransaction([TRIGGERS_OFF, nudge(1)]);
  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.equal(r.invariants.unbalancedTransactions, 1);
  assert.equal(r.invariants.driftCents, 0n, "the creator's side is untouched");
  assert.deepEqual(r.violations, ['cent-exact: 1 journal transactions do not balance']);

  await inTransaction([TRIGGERS_OFF, nudge(-1)]);
  await assertAuditPasses('after the cent is taken back');
});

test('an out-of-order commit: a checkout re-stamped as committed after a later-accepted one fails the verdict', async () => {
  // A creator with at least two checkouts, in acceptance order.
  const rows = (
    await ledger.query<{ id: string; creator_id: string }>(
      `SELECT id, creator_id FROM checkouts
        WHERE creator_id = (SELECT creator_id FROM checkouts GROUP BY creator_id HAVING count(*) >= 2 ORDER BY creator_id LIMIT 1)
        ORDER BY queue_sequence`,
    )
  ).rows;
  const [first, ...later] = rows;
  assert.ok(first && later.length > 0, 'some creator has two checkouts');
  // The earliest-accepted checkout takes a fresh commit_seq: to the auditor it committed last,
  // as it would if a worker had committed it after the others. (The write-once guard does not
  // cover commit_seq, so no trigger has to be disabled.)
  const restamp = (id: string): [string, unknown[]] => [
    `UPDATE checkouts SET commit_seq = DEFAULT WHERE id = $1`,
    [id],
  ];
  await inTransaction([restamp(first.id)]);

  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.equal(r.invariants.outOfOrder, 1);
  const order = r.invariants.violations;
  assert.equal(order.length, 1, order.join('\n'));
  assert.match(
    order[0]!,
    new RegExp(
      `^order: creator ${first.creator_id} committed checkout ${first.id} \\(accepted #\\d+\\) after one accepted #\\d+$`,
    ),
  );
  // The bus carries the events in the true order, which now contradicts the ledger's commit order too.
  assert.ok(r.events.outOfOrder > 0, 'the events audit sees the contradiction as well');

  // Undo: re-stamp every later checkout of that creator, in acceptance order, after the first.
  await inTransaction(later.map((c) => restamp(c.id)));
  await assertAuditPasses('after the commit order is restored');
});

test('a missing event: a charge.captured record removed from the bus fails the verdict', async () => {
  const original = await readFile(stack.eventFile, 'utf8');
  const lines = original.split('\n');
  const victim = lines.findIndex((l) => {
    if (l === '') return false;
    const envelope = JSON.parse((JSON.parse(l) as { value: string }).value) as { type: string };
    return envelope.type === 'charge.captured';
  });
  assert.ok(victim >= 0, 'the bus holds a charge.captured event');
  const envelope = JSON.parse((JSON.parse(lines[victim]!) as { value: string }).value) as {
    data: { checkoutId: string };
  };
  await writeFile(stack.eventFile, lines.filter((_, i) => i !== victim).join('\n'));

  const r = await auditAll();
  assert.equal(r.verdict, 'fail');
  assert.equal(r.events.missing, 1);
  assert.deepEqual(r.violations, [
    `events: charged checkout ${envelope.data.checkoutId} has no charge.captured event on the bus`,
  ]);

  await writeFile(stack.eventFile, original);
  await assertAuditPasses('after the event is put back');
});
