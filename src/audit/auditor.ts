// The auditor reads the stores directly — the ledger database, the queue
// database (with SQS: and the SQS dead-letter queue) and the provider's own
// capture record — and never asks a service.
// A service that lies about its state cannot fool it. It is hand-written
// because no library audits our invariants; the decisions live in
// invariants.ts, this file only reads.

import pg from 'pg';
import { readCaptureRecord } from '../psp/captureRecord.ts';
import type { Queue } from '../queue/Queue.ts';
import { readQueueAudit } from './queueAudit.ts';
import { evaluateInvariants, type AuditSnapshot, type InvariantVerdicts } from './invariants.ts';

export interface AuditSources {
  readonly ledgerUrl: string;
  readonly queueUrl: string;
  readonly providerDataDir: string;
  /** The checkouts clients were told were accepted. */
  readonly accepted: readonly { checkoutId: string; creatorId: string }[];
  /**
   * Where the dead letters are when the queue database does not hold them
   * (QUEUE_BACKEND=sqs: the SQS dead-letter queue, read through the port, up
   * to DEAD_LETTER_AUDIT_LIMIT). Absent: the queue database's dead letters.
   */
  readonly deadLetterQueue?: Pick<Queue, 'listDeadLetters'>;
}

/** The most dead letters an audit reads through the queue port (SqsQueue lists up to 10,000). */
export const DEAD_LETTER_AUDIT_LIMIT = 10_000;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function readLedger(url: string) {
  return withClient(url, async (c) => {
    // One snapshot of the whole ledger, so the figures agree with each other.
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const checkouts = await c.query<{
      id: string;
      creator_id: string;
      status: 'charged' | 'declined';
      commit_seq: string;
    }>(`SELECT id, creator_id, status, commit_seq::text FROM checkouts`);
    const charges = await c.query<{
      checkout_id: string;
      creator_id: string;
      provider_capture_id: string;
      currency: string;
      amount_minor: string;
      usd_minor: string;
      fx_snapshot_id: string;
    }>(
      `SELECT checkout_id, creator_id, provider_capture_id, currency, amount_minor::text, usd_minor::text, fx_snapshot_id FROM charges`,
    );
    const unbalanced = await c.query<{ n: string }>(
      `SELECT count(*)::text n FROM (
         SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
         HAVING sum(debit_usd_minor) <> sum(credit_usd_minor)) t`,
    );
    const payable = await c.query<{ creator_id: string; usd: string }>(
      `SELECT creator_id, (sum(credit_usd_minor) - sum(debit_usd_minor))::text usd
         FROM ledger_entries WHERE account = 'creator_payable' GROUP BY creator_id`,
    );
    const fx = await c.query<{ snapshot_id: string; currency: string; usd_per_unit: string }>(
      `SELECT snapshot_id, currency, usd_per_unit::text FROM fx_rate_snapshots`,
    );
    await c.query('COMMIT');
    return {
      ledgerCheckouts: checkouts.rows.map((r) => ({
        checkoutId: r.id,
        creatorId: r.creator_id,
        status: r.status,
        commitSeq: BigInt(r.commit_seq),
      })),
      ledgerCharges: charges.rows.map((r) => ({
        checkoutId: r.checkout_id,
        creatorId: r.creator_id,
        captureId: r.provider_capture_id,
        currency: r.currency,
        amountMinor: BigInt(r.amount_minor),
        usdMinor: BigInt(r.usd_minor),
        fxSnapshotId: r.fx_snapshot_id,
      })),
      unbalancedTransactions: Number(unbalanced.rows[0]?.n ?? 0),
      creatorPayableUsd: new Map(payable.rows.map((r) => [r.creator_id, BigInt(r.usd)])),
      fxRates: new Map(fx.rows.map((r) => [`${r.snapshot_id}/${r.currency}`, r.usd_per_unit])),
    };
  });
}

export async function takeAuditSnapshot(sources: AuditSources): Promise<AuditSnapshot> {
  const [ledger, queue, provider, deadLetters] = await Promise.all([
    readLedger(sources.ledgerUrl),
    withClient(sources.queueUrl, (c) => readQueueAudit(c)),
    readCaptureRecord(sources.providerDataDir),
    sources.deadLetterQueue?.listDeadLetters(DEAD_LETTER_AUDIT_LIMIT),
  ]);
  return {
    accepted: sources.accepted,
    acceptanceSequence: queue.acceptanceSequence,
    // The dedup id of a dead letter is its checkout id.
    deadLettered: deadLetters ? new Set(deadLetters.map((d) => d.dedupId)) : queue.deadLettered,
    ...ledger,
    providerRecords: provider.map((r) => ({
      checkoutId: r.checkoutId,
      captureId: r.captureId,
      status: r.status,
      currency: r.currency,
      amountMinor: r.amountMinor,
    })),
  };
}

export async function audit(sources: AuditSources): Promise<InvariantVerdicts> {
  return evaluateInvariants(await takeAuditSnapshot(sources));
}
