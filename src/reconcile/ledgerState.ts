// Reading checkouts with everything booked for them (charge, journal
// transaction, entries) in one statement, a page at a time in commit order.
// A page is one snapshot; a pass walks the whole ledger page by page with a
// keyset on commit_seq, so no page holds a snapshot (or the server) long.

import type pg from 'pg';
import type { ChargeRow, EntryRow, LedgerState } from './truth.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

interface StateRow {
  id: string;
  creator_id: string;
  customer_ref: string;
  currency: string;
  amount_minor: string;
  status: string;
  retry: boolean;
  provider_ref: string;
  decline_code: string | null;
  commit_seq: string;
  charge_id: string | null;
  charge_creator_id: string | null;
  charge_currency: string | null;
  charge_amount_minor: string | null;
  usd_minor: string | null;
  fx_snapshot_id: string | null;
  provider_capture_id: string | null;
  transaction_id: string | null;
  entries: { account: string; creator_id: string | null; debit: string; credit: string }[];
}

const SELECT_STATE = `SELECT c.id, c.creator_id, c.customer_ref, trim(c.currency) AS currency, c.amount_minor::text,
         c.status, c.retry, c.provider_ref, c.decline_code, c.commit_seq::text,
         ch.id AS charge_id, ch.creator_id AS charge_creator_id, trim(ch.currency) AS charge_currency,
         ch.amount_minor::text AS charge_amount_minor, ch.usd_minor::text, ch.fx_snapshot_id, ch.provider_capture_id,
         lt.id AS transaction_id,
         coalesce(e.entries, '[]'::json) AS entries
    FROM checkouts c
    LEFT JOIN charges ch ON ch.checkout_id = c.id
    LEFT JOIN ledger_transactions lt ON lt.charge_id = ch.id
    LEFT JOIN LATERAL (
      SELECT json_agg(json_build_object('account', le.account, 'creator_id', le.creator_id,
                                        'debit', le.debit_usd_minor::text, 'credit', le.credit_usd_minor::text)
                      ORDER BY le.id) AS entries
        FROM ledger_entries le WHERE le.transaction_id = lt.id
    ) e ON true`;

function toState(r: StateRow): LedgerState & { commitSeq: bigint } {
  const charge: ChargeRow | null =
    r.charge_id === null
      ? null
      : {
          id: r.charge_id,
          creatorId: r.charge_creator_id ?? '',
          currency: r.charge_currency ?? '',
          amountMinor: BigInt(r.charge_amount_minor ?? '0'),
          usdMinor: BigInt(r.usd_minor ?? '0'),
          fxSnapshotId: r.fx_snapshot_id ?? '',
          providerCaptureId: r.provider_capture_id ?? '',
        };
  const entries: EntryRow[] = r.entries.map((e) => ({
    account: e.account,
    creatorId: e.creator_id,
    debitUsdMinor: BigInt(e.debit),
    creditUsdMinor: BigInt(e.credit),
  }));
  return {
    checkout: {
      id: r.id,
      creatorId: r.creator_id,
      customerRef: r.customer_ref,
      currency: r.currency,
      amountMinor: BigInt(r.amount_minor),
      status: r.status,
      retry: r.retry,
      providerRef: r.provider_ref,
      declineCode: r.decline_code,
    },
    charge,
    transactionId: r.transaction_id,
    entries,
    commitSeq: BigInt(r.commit_seq),
  };
}

/** Up to `limit` checkouts committed after `afterCommitSeq`, in commit order. */
export async function readLedgerPage(
  db: Queryable,
  afterCommitSeq: bigint,
  limit: number,
): Promise<(LedgerState & { commitSeq: bigint })[]> {
  const res = await db.query<StateRow>({
    name: 'reconcile_ledger_page',
    text: `${SELECT_STATE} WHERE c.commit_seq > $1 ORDER BY c.commit_seq LIMIT $2`,
    values: [afterCommitSeq.toString(), limit],
  });
  return res.rows.map(toState);
}

/** One checkout's rows (null when it has none); inside a repair, after the row lock. */
export async function readLedgerState(db: Queryable, checkoutId: string): Promise<LedgerState | null> {
  const res = await db.query<StateRow>({
    name: 'reconcile_ledger_state',
    text: `${SELECT_STATE} WHERE c.id = $1`,
    values: [checkoutId],
  });
  const row = res.rows[0];
  return row ? toState(row) : null;
}

/** Every FX rate, `${snapshotId}/${currency}` -> USD per unit (the table is small: a row per currency per snapshot). */
export async function readFxRates(db: Queryable): Promise<Map<string, string>> {
  const res = await db.query<{ key: string; rate: string }>(
    `SELECT snapshot_id || '/' || trim(currency) AS key, usd_per_unit::text AS rate FROM fx_rate_snapshots`,
  );
  return new Map(res.rows.map((r) => [r.key, r.rate]));
}
