// A ledger with real committed checkouts (through Ledger.commit, so the
// outbox rows are the ones production writes), for the relay's tests.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { CheckoutMessage } from '../../src/checkout/checkoutMessage.ts';
import type { PublishedEvent } from '../../src/eventBus/EventBus.ts';
import { parseEventEnvelope } from '../../src/eventBus/envelope.ts';
import { Ledger } from '../../src/ledger/index.ts';
import { migrateOutbox } from '../../src/outbox/outboxSql.ts';
import { makeTestCatalog } from '../helpers/catalog.ts';
import { freshDatabase } from '../helpers/postgres.ts';

export interface LedgerFixture {
  readonly url: string;
  readonly ledger: Ledger;
  readonly creators: string[];
  close(): Promise<void>;
}

export async function openLedger(creatorCount = 3): Promise<LedgerFixture> {
  const url = await freshDatabase();
  const ledger = await Ledger.open({ databaseUrl: url });
  const { catalog } = makeTestCatalog(creatorCount);
  await ledger.seedCatalog(catalog);
  await migrateOutbox(url);
  return { url, ledger, creators: catalog.creators.map((c) => c.id), close: () => ledger.close() };
}

let sequence = 0n;

/** Commits n checkouts round-robin over the creators (every 5th declined), one after another. */
export async function commitCheckouts(
  f: LedgerFixture,
  n: number,
): Promise<{ checkoutId: string; creatorId: string }[]> {
  const out: { checkoutId: string; creatorId: string }[] = [];
  for (let i = 0; i < n; i++) {
    const creatorId = f.creators[i % f.creators.length]!;
    const message: CheckoutMessage = {
      v: 1,
      checkoutId: randomUUID(),
      creatorId,
      customerRef: `cus_${i}`,
      planId: null,
      amountMinor: String(500 + i),
      currency: 'EUR',
      acceptedAt: new Date().toISOString(),
    };
    sequence++;
    await f.ledger.commit({
      message,
      queueSequence: sequence,
      receiveCount: 1,
      outcome:
        i % 5 === 4
          ? { kind: 'declined', providerRef: `ref_${message.checkoutId}`, declineCode: 'card_declined' }
          : { kind: 'captured', captureId: `cap_${message.checkoutId}` },
    });
    out.push({ checkoutId: message.checkoutId, creatorId });
  }
  return out;
}

/** Work that never commits: a transaction writes a valid outbox row and rolls back. Returns its event id. */
export async function rolledBackEvent(url: string, creatorId: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const eventId = randomUUID();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO outbox (event_id, creator_id, event_type, schema_version, payload) VALUES ($1, $2, $3, 1, $4)`,
      [
        eventId,
        creatorId,
        'checkout.declined',
        JSON.stringify({ checkoutId: randomUUID(), creatorId, declineCode: 'card_declined' }),
      ],
    );
    await client.query('ROLLBACK');
  } finally {
    await client.end();
  }
  return eventId;
}

/** Inserts an outbox row as it is (no validation), committed. Returns its event id. */
export async function insertRawEvent(
  url: string,
  row: { creatorId: string; type: string; version: number; payload: unknown },
): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const eventId = randomUUID();
  try {
    await client.query(
      `INSERT INTO outbox (event_id, creator_id, event_type, schema_version, payload) VALUES ($1, $2, $3, $4, $5)`,
      [eventId, row.creatorId, row.type, row.version, JSON.stringify(row.payload)],
    );
  } finally {
    await client.end();
  }
  return eventId;
}

export async function outboxCounts(
  url: string,
): Promise<{ unpublished: number; published: number; total: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query<{ unpublished: number; published: number; total: number }>(
      `SELECT count(*) FILTER (WHERE published_at IS NULL)::int unpublished,
              count(*) FILTER (WHERE published_at IS NOT NULL)::int published, count(*)::int total FROM outbox`,
    );
    return res.rows[0]!;
  } finally {
    await client.end();
  }
}

/** A consumer's dedup: the first record of each event id, in bus order. */
export function dedupByEventId(events: readonly PublishedEvent[]): PublishedEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    const id = e.headers['event-id'] ?? '';
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export function checkoutIdOf(e: PublishedEvent): string {
  const parsed = parseEventEnvelope(e);
  if (!parsed.ok) throw new Error(parsed.reason);
  return (parsed.envelope.data as { checkoutId: string }).checkoutId;
}
