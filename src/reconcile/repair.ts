// Restoring one checkout's rows to what the provider's record and the
// ledger's own history say (truth.ts), in one transaction that also writes the
// audit row (reconciliation_repairs). The transaction:
//
//   declare itself a repair (firebreak.ledger_repair, transaction-local: the
//   write-once guard of migration 0003 lets it through) -> lock the checkout
//   row -> read the rows again -> evaluate again -> write -> audit row
//   (the caller commits: Ledger.transaction)
//
// Evaluating again under the lock makes a repair safe to race: two
// reconcilers, or a person fixing the row by hand, and the second finds
// nothing left to do. A repair writes nothing else: no outbox event (what was
// published was true; only the ledger's copy was rewritten) and no queue
// message. It never calls the provider's capture: the provider is only read.

import type pg from 'pg';
import { readLedgerState } from './ledgerState.ts';
import type { ProviderResult } from './providerRecord.ts';
import { evaluate, type Evaluation, type FxRateOf, type LedgerState, type TrueState } from './truth.ts';

export type RepairOutcome =
  | { readonly kind: 'repaired'; readonly evaluation: Evaluation; readonly repairId: string }
  | { readonly kind: 'consistent' }
  | { readonly kind: 'unrepairable'; readonly evaluation: Evaluation }
  | { readonly kind: 'gone' };

export interface RepairInput {
  readonly checkoutId: string;
  /** The provider's result for the checkout's key, looked up just now (null: the provider has none). */
  readonly provider: ProviderResult | null;
  readonly fxRateOf: FxRateOf;
  /** When the pass found the discrepancy. */
  readonly detectedAt: Date;
  /** Who repairs (reconciliation_repairs.repaired_by). */
  readonly repairedBy: string;
}

function snapshotOf(s: LedgerState): unknown {
  return JSON.parse(
    JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as unknown;
}

async function write(
  client: pg.ClientBase,
  state: LedgerState,
  truth: TrueState,
  evaluation: Evaluation,
): Promise<void> {
  const id = state.checkout.id;
  const kinds = new Set(evaluation.kinds);
  if (kinds.has('checkout_status') || kinds.has('checkout_terms')) {
    const t = truth.checkout;
    await client.query(
      `UPDATE checkouts
          SET status = $2, retry = $3, provider_ref = $4, decline_code = $5,
              creator_id = $6, customer_ref = $7, currency = $8, amount_minor = $9
        WHERE id = $1`,
      [
        id,
        t.status,
        t.retry,
        t.providerRef,
        t.declineCode,
        t.creatorId,
        t.customerRef,
        t.currency,
        t.amountMinor.toString(),
      ],
    );
  }
  if (kinds.has('charge_amount') && truth.charge && state.charge) {
    const t = truth.charge;
    await client.query(
      `UPDATE charges
          SET creator_id = $2, currency = $3, amount_minor = $4, usd_minor = $5, provider_capture_id = $6
        WHERE id = $1`,
      [
        state.charge.id,
        t.creatorId,
        t.currency,
        t.amountMinor.toString(),
        t.usdMinor.toString(),
        t.providerCaptureId,
      ],
    );
  }
  if (kinds.has('journal') && truth.entries && state.charge) {
    // The journal of one charge is two rows; restoring it whole is simpler and
    // clearer than patching whichever legs were touched. The rows removed are
    // in the audit row's `before`. The balance trigger checks it at commit.
    let transactionId = state.transactionId;
    if (transactionId === null) {
      const res = await client.query<{ id: string }>(
        `INSERT INTO ledger_transactions (id, charge_id) VALUES (gen_random_uuid(), $1) RETURNING id`,
        [state.charge.id],
      );
      transactionId = res.rows[0]!.id;
    } else {
      await client.query(`DELETE FROM ledger_entries WHERE transaction_id = $1`, [transactionId]);
    }
    for (const e of truth.entries) {
      await client.query(
        `INSERT INTO ledger_entries (transaction_id, account, creator_id, debit_usd_minor, credit_usd_minor)
         VALUES ($1, $2, $3, $4, $5)`,
        [transactionId, e.account, e.creatorId, e.debitUsdMinor.toString(), e.creditUsdMinor.toString()],
      );
    }
  }
}

/**
 * Repairs one checkout if it still needs it. Runs inside the caller's
 * transaction (Ledger.transaction owns BEGIN/COMMIT): a checkout found
 * consistent or unrepairable writes nothing.
 */
export async function repairCheckout(client: pg.ClientBase, input: RepairInput): Promise<RepairOutcome> {
  await client.query(`SELECT set_config('firebreak.ledger_repair', $1, true)`, [
    `reconciler ${input.repairedBy}`,
  ]);
  const locked = await client.query(`SELECT 1 FROM checkouts WHERE id = $1 FOR UPDATE`, [input.checkoutId]);
  const state = locked.rowCount === 1 ? await readLedgerState(client, input.checkoutId) : null;
  if (state === null) return { kind: 'gone' };
  const evaluation = evaluate(state, input.provider ?? undefined, input.fxRateOf);
  if (evaluation.kinds.length === 0) return { kind: 'consistent' };
  if (evaluation.truth === null || input.provider === null) return { kind: 'unrepairable', evaluation };
  await write(client, state, evaluation.truth, evaluation);
  const after = await readLedgerState(client, input.checkoutId);
  const audit = await client.query<{ id: string }>(
    `INSERT INTO reconciliation_repairs
       (checkout_id, kinds, provider_capture_id, provider_status, before, after, detected_at, repaired_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
    [
      input.checkoutId,
      evaluation.kinds,
      input.provider.captureId,
      input.provider.status,
      JSON.stringify({ rows: snapshotOf(state), details: evaluation.details }),
      JSON.stringify({ rows: after ? snapshotOf(after) : null }),
      input.detectedAt,
      input.repairedBy,
    ],
  );
  return { kind: 'repaired', evaluation, repairId: audit.rows[0]!.id };
}
