// DESIGN.md invariant 5, audited from outside: every committed charge (and
// decline) has exactly one distinct event id on the bus; no event for work the
// ledger did not commit; per creator, events keep the ledger's commit order.
// evaluateEvents() decides over plain snapshots (like invariants.ts);
// takeEventsSnapshot() reads the bus and the ledger directly (like auditor.ts).
//
// Delivery is at-least-once, so the same event id may appear more than once on
// the bus; that is not a violation. Two *different* event ids for one
// checkout is (the ledger would have written two outbox rows).

import pg from 'pg';
import type { EventReader, PublishedEvent } from '../eventBus/EventBus.ts';
import { parseEventEnvelope } from '../eventBus/envelope.ts';

/** The outbox events that record a checkout's outcome, by the ledger status they stand for. */
export const OUTCOME_EVENT_FOR = { charged: 'charge.captured', declined: 'checkout.declined' } as const;
const OUTCOME_TYPES: ReadonlySet<string> = new Set(Object.values(OUTCOME_EVENT_FOR));

export interface CommittedCheckout {
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly status: 'charged' | 'declined' | 'failed';
  readonly commitSeq: bigint;
}

export interface EventsSnapshot {
  readonly checkouts: readonly CommittedCheckout[];
  /** Event ids of the ledger's committed outbox rows. */
  readonly outboxEventIds: ReadonlySet<string>;
  /** Everything read back from the bus, in bus order (per partition by offset). */
  readonly events: readonly PublishedEvent[];
}

export interface EventsVerdicts {
  /** Checkouts the ledger committed as charged or declined: each needs one event. */
  readonly committed: number;
  /** Records on the bus, duplicates included. */
  readonly published: number;
  /** Distinct event ids on the bus. */
  readonly distinct: number;
  /** Committed checkouts with no outcome event on the bus. */
  readonly missing: number;
  /** Committed checkouts with more than one distinct outcome event id. */
  readonly duplicated: number;
  /** Distinct events for work the ledger did not commit (no such outbox row, or no such checkout). */
  readonly unexpected: number;
  /** Adjacent pairs of a creator's outcome events whose bus order contradicts commit order. */
  readonly outOfOrder: number;
  /** Records that are not a valid envelope. */
  readonly malformed: number;
  readonly violations: string[];
}

export function evaluateEvents(s: EventsSnapshot): EventsVerdicts {
  const violations: string[] = [];
  const checkouts = new Map(s.checkouts.map((c) => [c.checkoutId, c]));
  // First occurrence of each event id, in bus order: that is when consumers act on it.
  const firstSeen = new Map<string, { type: string; creatorId: string; checkoutId: string | undefined }>();
  let malformed = 0;
  for (const record of s.events) {
    const parsed = parseEventEnvelope(record);
    if (!parsed.ok) {
      malformed++;
      violations.push(
        `events: malformed record at ${record.topic}/${record.partition}@${record.offset}: ${parsed.reason}`,
      );
      continue;
    }
    const e = parsed.envelope;
    if (firstSeen.has(e.eventId)) continue;
    const checkoutId = (e.data as { checkoutId?: unknown } | null)?.checkoutId;
    firstSeen.set(e.eventId, {
      type: e.type,
      creatorId: e.creatorId,
      checkoutId: typeof checkoutId === 'string' ? checkoutId : undefined,
    });
  }

  let unexpected = 0;
  const outcomeIdsByCheckout = new Map<string, string[]>();
  const orderByCreator = new Map<string, { eventId: string; checkout: CommittedCheckout }[]>();
  for (const [eventId, e] of firstSeen) {
    if (!s.outboxEventIds.has(eventId)) {
      unexpected++;
      violations.push(`events: event ${eventId} (${e.type}) is on the bus but not in the ledger's outbox`);
      continue;
    }
    if (!OUTCOME_TYPES.has(e.type) || e.checkoutId === undefined) continue;
    const checkout = checkouts.get(e.checkoutId);
    if (!checkout) {
      unexpected++;
      violations.push(
        `events: ${e.type} ${eventId} is for checkout ${e.checkoutId}, which the ledger never committed`,
      );
      continue;
    }
    if (checkout.status !== 'failed' && OUTCOME_EVENT_FOR[checkout.status] !== e.type) {
      unexpected++;
      violations.push(
        `events: ${e.type} ${eventId} contradicts checkout ${e.checkoutId}, ${checkout.status} in the ledger`,
      );
      continue;
    }
    outcomeIdsByCheckout.set(e.checkoutId, [...(outcomeIdsByCheckout.get(e.checkoutId) ?? []), eventId]);
    const list = orderByCreator.get(checkout.creatorId) ?? [];
    list.push({ eventId, checkout });
    orderByCreator.set(checkout.creatorId, list);
  }

  let missing = 0;
  let duplicated = 0;
  let committed = 0;
  for (const c of s.checkouts) {
    if (c.status === 'failed') continue;
    committed++;
    const ids = outcomeIdsByCheckout.get(c.checkoutId) ?? [];
    if (ids.length === 0) {
      missing++;
      violations.push(
        `events: ${c.status} checkout ${c.checkoutId} has no ${OUTCOME_EVENT_FOR[c.status]} event on the bus`,
      );
    } else if (ids.length > 1) {
      duplicated++;
      violations.push(
        `events: checkout ${c.checkoutId} has ${ids.length} distinct outcome event ids (${ids.join(', ')})`,
      );
    }
  }

  let outOfOrder = 0;
  for (const [creatorId, list] of orderByCreator) {
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1]!;
      const now = list[i]!;
      if (now.checkout.commitSeq < before.checkout.commitSeq) {
        outOfOrder++;
        violations.push(
          `events: creator ${creatorId}: checkout ${now.checkout.checkoutId} (commit #${now.checkout.commitSeq}) reached the bus after ${before.checkout.checkoutId} (commit #${before.checkout.commitSeq})`,
        );
      }
    }
  }

  return {
    committed,
    published: s.events.length,
    distinct: firstSeen.size,
    missing,
    duplicated,
    unexpected,
    outOfOrder,
    malformed,
    violations,
  };
}

export function eventsHold(v: EventsVerdicts): boolean {
  return v.violations.length === 0;
}

/**
 * Reads the bus first, then the ledger: the relay publishes only committed
 * rows, so everything on the bus is already visible to the later ledger read
 * (no false "unexpected"). Call it once the outbox has drained, or rows still
 * waiting will count as missing.
 */
export async function takeEventsSnapshot(sources: {
  ledgerUrl: string;
  topic: string;
  read: EventReader;
}): Promise<EventsSnapshot> {
  const events = await sources.read(sources.topic);
  const client = new pg.Client({ connectionString: sources.ledgerUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const checkouts = await client.query<{
      id: string;
      creator_id: string;
      status: CommittedCheckout['status'];
      commit_seq: string;
    }>(`SELECT id, creator_id, status, commit_seq::text FROM checkouts`);
    const outbox = await client.query<{ event_id: string }>(`SELECT event_id FROM outbox`);
    await client.query('COMMIT');
    return {
      events,
      checkouts: checkouts.rows.map((r) => ({
        checkoutId: r.id,
        creatorId: r.creator_id,
        status: r.status,
        commitSeq: BigInt(r.commit_seq),
      })),
      outboxEventIds: new Set(outbox.rows.map((r) => r.event_id)),
    };
  } finally {
    await client.end();
  }
}

export async function auditEvents(sources: {
  ledgerUrl: string;
  topic: string;
  read: EventReader;
}): Promise<EventsVerdicts> {
  return evaluateEvents(await takeEventsSnapshot(sources));
}
