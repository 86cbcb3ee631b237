// Scenario row-rewrite: the write-ups' nightly job. It picks seeded committed
// checkouts the provider captured, rewrites their ledger rows to
// status 'failed' with the retry flag set, directly in the ledger database as
// its owner, and then makes the retry the flag asks for: it sends each of them
// to the payment queue again, as a retry job honouring the flag would.
//
// The ledger's write-once guard (migration 0003) refuses that UPDATE, so the
// job does what a careless operator with the owner's credentials does: in the
// same transaction it disables the guard trigger, rewrites, and enables it
// again. heal() enables it again too, in case the run is cut short.
//
// What it proves, from outside the services:
// - detection: the reconciler finds every rewritten row (time to detection:
//   the rewrite's commit to the reconciler's pass that saw it, both on this
//   machine's clock);
// - no second capture: the provider's record still holds exactly one result
//   per checkout, the one the ledger had, although the worker received each
//   checkout again; the ledger still has one charge each;
// - the true state restored (time to repair: the rewrite to the repair's
//   commit), with an audit row per checkout in reconciliation_repairs;
// - the alert: ledger_tampering_detected_total on the reconciler's /metrics
//   grew by the number of rows rewritten (LedgerTamperingDetected reads it).
// The drill's audit afterwards checks the money invariants as after any scenario.

import pg from 'pg';
import { encodeCheckoutMessage, type CheckoutMessage } from '../../checkout/checkoutMessage.ts';
import { scrapeCounter } from '../../faults/pipelineProbe.ts';
import { SandboxControl } from '../../psp/sandboxControl.ts';
import { PostgresQueue } from '../../queue/PostgresQueue.ts';
import type { SeededRandom } from '../../util/seededRandom.ts';
import { waitFor } from '../../util/waitFor.ts';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.ts';

/** The guard trigger the job switches off for its rewrite. */
const GUARD_TRIGGER = 'checkouts_outcome_write_once';
/** Rows rewritten: seeded, between these. */
const MIN_ROWS = 3;
const MAX_ROWS = 6;
/** The reconciler passes every second in a drill; a minute without a repair is a failure, not slowness. */
const REPAIR_TIMEOUT_MS = 60_000;
/** The retries go behind the traffic already queued for their creators. */
const RETRY_SETTLE_TIMEOUT_MS = 120_000;

interface Picked {
  readonly id: string;
  readonly creator_id: string;
  readonly customer_ref: string;
  readonly plan_id: string | null;
  readonly amount_minor: string;
  readonly currency: string;
  readonly accepted_at: Date;
  readonly provider_ref: string;
}

function shuffled<T>(rng: SeededRandom, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The message a retry job builds from a checkout row (first checkouts only: a renewal's message is not in the row). */
function retryMessageOf(row: Picked): CheckoutMessage {
  return {
    v: 1,
    checkoutId: row.id,
    creatorId: row.creator_id,
    customerRef: row.customer_ref,
    planId: row.plan_id,
    amountMinor: row.amount_minor,
    currency: row.currency,
    acceptedAt: row.accepted_at.toISOString(),
  };
}

export const rowRewriteScenario: Scenario = {
  name: 'row-rewrite',
  description:
    "committed charged checkouts rewritten to 'failed' with retry set and retried: detected, never captured twice, restored",
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const { stack } = ctx;
    if (!stack.reconciler) throw new Error('row-rewrite needs the reconciler, but the stack runs none');
    const metricsUrl = `${stack.reconcilerAdminUrl}/metrics`;
    const rows = ctx.rng.int(MIN_ROWS, MAX_ROWS);
    const ledger = new pg.Pool({ connectionString: stack.ledgerUrl, max: 2 });
    ledger.on('error', () => {});
    const queuePool = new pg.Pool({ connectionString: stack.queueUrl, max: 1 });
    queuePool.on('error', () => {});
    const queue = await PostgresQueue.open({ pool: queuePool });
    try {
      const candidates = async () =>
        (
          await ledger.query<Picked>(
            `SELECT c.id, c.creator_id, c.customer_ref, c.plan_id, c.amount_minor::text, trim(c.currency) currency,
                    c.accepted_at, c.provider_ref
               FROM checkouts c
              WHERE c.status = 'charged'
                AND NOT EXISTS (SELECT 1 FROM renewal_attempts r WHERE r.checkout_id = c.id)
              ORDER BY c.commit_seq LIMIT 200`,
          )
        ).rows;
      // The job runs on a ledger in motion: let traffic commit first.
      await waitFor('charged checkouts to rewrite', async () => (await candidates()).length >= rows + 10, {
        timeoutMs: 120_000,
        intervalMs: 200,
      });
      const picked = shuffled(ctx.rng, await candidates()).slice(0, rows);
      const ids = picked.map((p) => p.id);
      const detectedBefore =
        (await scrapeCounter(metricsUrl, 'ledger_tampering_detected_total', 'kind="checkout_status"')) ?? 0;

      // The rewrite, as the owner, past the guard.
      const client = await ledger.connect();
      let injectedAtMs: number;
      try {
        await client.query('BEGIN');
        await client.query(`ALTER TABLE checkouts DISABLE TRIGGER ${GUARD_TRIGGER}`);
        const res = await client.query(
          `UPDATE checkouts SET status = 'failed', retry = true WHERE id = ANY($1::uuid[]) AND status = 'charged'`,
          [ids],
        );
        if (res.rowCount !== rows) throw new Error(`rewrote ${res.rowCount} rows, meant ${rows}`);
        await client.query(`ALTER TABLE checkouts ENABLE TRIGGER ${GUARD_TRIGGER}`);
        const at = await client.query<{ ms: string }>(
          `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::text ms`,
        );
        await client.query('COMMIT');
        injectedAtMs = Number(at.rows[0]?.ms);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
      ctx.mark(
        'inject',
        `${rows} charged checkouts rewritten to 'failed' with retry set (guard trigger disabled for it)`,
      );

      // The retry the flag asks for: each checkout sent to the payment queue again.
      const retryIds = ids.map((id) => `nightly-retry-${id}`);
      for (const [i, row] of picked.entries()) {
        await queue.send({
          groupId: row.creator_id,
          dedupId: retryIds[i]!,
          body: encodeCheckoutMessage(retryMessageOf(row)),
        });
      }
      ctx.mark('heal', `the job finished: guard re-enabled, ${rows} retries queued`);

      // Detection and repair, as the ledger records them.
      type RepairRow = { checkout_id: string; detected_ms: string; repaired_ms: string; kinds: string[] };
      const repairs = async () =>
        (
          await ledger.query<RepairRow>(
            `SELECT checkout_id, (extract(epoch FROM detected_at) * 1000)::text detected_ms,
                    (extract(epoch FROM repaired_at) * 1000)::text repaired_ms, kinds
               FROM reconciliation_repairs WHERE checkout_id = ANY($1::uuid[]) ORDER BY id`,
            [ids],
          )
        ).rows;
      const restored = async () =>
        (
          await ledger.query<{ n: number }>(
            `SELECT count(*)::int n FROM checkouts c JOIN unnest($1::uuid[], $2::text[]) AS t (id, ref) ON t.id = c.id
              WHERE c.status = 'charged' AND NOT c.retry AND c.provider_ref = t.ref`,
            [ids, picked.map((p) => p.provider_ref)],
          )
        ).rows[0]?.n ?? 0;
      const repaired = await waitFor(
        'the reconciler to restore every rewritten row',
        async () => (await restored()) === rows && (await repairs()).length >= rows,
        { timeoutMs: REPAIR_TIMEOUT_MS, intervalMs: 100 },
      ).then(
        () => true,
        () => false,
      );
      const found = await repairs();
      const firstRepair = new Map<string, RepairRow>();
      for (const r of found) if (!firstRepair.has(r.checkout_id)) firstRepair.set(r.checkout_id, r);
      const detectionMs = Math.max(
        ...[...firstRepair.values()].map((r) => Number(r.detected_ms) - injectedAtMs),
      );
      const repairMs = Math.max(
        ...[...firstRepair.values()].map((r) => Number(r.repaired_ms) - injectedAtMs),
      );
      if (repaired)
        ctx.mark('recovered', `all ${rows} rows restored ${Math.round(repairMs)} ms after the rewrite`);

      // The retries: each received and settled by the worker (deleted, not dead-lettered).
      const retriesSettled = await waitFor(
        'the worker to settle the retried checkouts',
        async () =>
          (
            await queuePool.query<{ n: number }>(
              `SELECT count(*)::int n FROM queue_message WHERE dedup_id = ANY($1)`,
              [retryIds],
            )
          ).rows[0]?.n === 0,
        { timeoutMs: RETRY_SETTLE_TIMEOUT_MS, intervalMs: 250 },
      ).then(
        () => true,
        () => false,
      );

      // The provider's record, over its API: one result per checkout, the one the ledger had.
      const captures = await new SandboxControl(stack.pspUrl, stack.pspControlKey).listCaptures();
      const resultsOf = (id: string) => captures.filter((c) => c.checkoutId === id);
      const secondCaptures = picked.filter((p) => resultsOf(p.id).length !== 1).length;
      const wrongCapture = picked.filter((p) => resultsOf(p.id)[0]?.captureId !== p.provider_ref).length;
      const charges = (
        await ledger.query<{ n: number }>(
          `SELECT count(*)::int n FROM charges WHERE checkout_id = ANY($1::uuid[])`,
          [ids],
        )
      ).rows[0]?.n;
      const detectedAfter =
        (await scrapeCounter(metricsUrl, 'ledger_tampering_detected_total', 'kind="checkout_status"')) ?? 0;
      const alertIncrement = detectedAfter - detectedBefore;

      const violations: string[] = [];
      if (!repaired)
        violations.push(
          `the reconciler restored ${await restored()} of ${rows} rewritten rows within ${REPAIR_TIMEOUT_MS / 1000}s`,
        );
      if (firstRepair.size < rows)
        violations.push(
          `reconciliation_repairs has an audit row for ${firstRepair.size} of ${rows} repaired checkouts`,
        );
      if (secondCaptures > 0)
        violations.push(
          `${secondCaptures} rewritten checkouts have more than one result at the provider: captured twice`,
        );
      if (wrongCapture > 0)
        violations.push(
          `${wrongCapture} rewritten checkouts' provider result is not the capture the ledger had`,
        );
      if (charges !== rows)
        violations.push(`the rewritten checkouts have ${charges} ledger charges, not ${rows}`);
      if (!retriesSettled)
        violations.push(
          'the retried checkouts were not settled by the worker (still queued or dead-lettered)',
        );
      if (alertIncrement < rows)
        violations.push(
          `ledger_tampering_detected_total{kind="checkout_status"} grew by ${alertIncrement}, not ${rows}: the alert would not fire`,
        );
      const recoveryMs = repaired ? Math.round(repairMs) : null;
      return {
        verdict: violations.length === 0 ? 'pass' : 'fail',
        summary: repaired
          ? `${rows} rows rewritten to failed+retry and retried: detected in ${(detectionMs / 1000).toFixed(1)}s, restored in ${(repairMs / 1000).toFixed(1)}s, ${secondCaptures} second captures, alert counter +${alertIncrement}`
          : `${rows} rows rewritten to failed+retry: not all restored within ${REPAIR_TIMEOUT_MS / 1000}s`,
        measurements: {
          rowsRewritten: rows,
          rowsRestored: await restored(),
          repairAuditRows: firstRepair.size,
          detectionMs: repaired ? Math.round(detectionMs) : null,
          repairMs: recoveryMs,
          retriesSent: rows,
          retriesSettled,
          providerResultsPerCheckout: secondCaptures === 0 ? 1 : null,
          secondCaptures,
          ledgerCharges: charges ?? null,
          tamperingAlertIncrement: alertIncrement,
        },
        violations,
        recoveryMs,
      };
    } finally {
      await queue.close().catch(() => {});
      await Promise.allSettled([ledger.end(), queuePool.end()]);
    }
  },
  // Idempotent: enabling an enabled trigger changes nothing.
  async heal(ctx) {
    const client = new pg.Client({ connectionString: ctx.stack.ledgerUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query(`ALTER TABLE checkouts ENABLE TRIGGER ${GUARD_TRIGGER}`);
    } finally {
      await client.end().catch(() => {});
    }
  },
};
