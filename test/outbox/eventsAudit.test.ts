// The events invariant (DESIGN.md 5) over hand-made snapshots: each way it can
// break is caught, and at-least-once duplicates are not a violation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { evaluateEvents, type CommittedCheckout, type EventsSnapshot } from '../../src/audit/eventsAudit.ts';
import type { PublishedEvent } from '../../src/eventBus/EventBus.ts';
import { toEventRecord } from '../../src/eventBus/envelope.ts';

const creator = randomUUID();

function checkout(seq: number, status: CommittedCheckout['status'] = 'charged'): CommittedCheckout {
  return { checkoutId: randomUUID(), creatorId: creator, status, commitSeq: BigInt(seq) };
}

let offset = 0;
function event(
  c: CommittedCheckout,
  over: { eventId?: string; type?: string; data?: unknown } = {},
): PublishedEvent {
  const r = toEventRecord('t', {
    eventId: over.eventId ?? randomUUID(),
    type: over.type ?? (c.status === 'declined' ? 'checkout.declined' : 'charge.captured'),
    schemaVersion: 1,
    creatorId: c.creatorId,
    occurredAt: new Date().toISOString(),
    data: over.data ?? { checkoutId: c.checkoutId, creatorId: c.creatorId },
  });
  return { topic: r.topic, partition: 0, offset: offset++, key: r.key, headers: r.headers, value: r.value };
}

function snapshot(
  checkouts: CommittedCheckout[],
  events: PublishedEvent[],
  extraOutbox: string[] = [],
): EventsSnapshot {
  return {
    checkouts,
    events,
    outboxEventIds: new Set([...events.map((e) => e.headers['event-id']!), ...extraOutbox]),
  };
}

test('one event per committed checkout, in commit order: clean; redelivered copies are not violations', () => {
  const cs = [checkout(1), checkout(2, 'declined'), checkout(3)];
  const es = cs.map((c) => event(c));
  const v = evaluateEvents(snapshot(cs, [...es, es[0]!, es[1]!]));
  assert.deepEqual(v.violations, []);
  assert.deepEqual(
    { committed: v.committed, published: v.published, distinct: v.distinct },
    { committed: 3, published: 5, distinct: 3 },
  );
});

test('a committed checkout without an event is missing; a failed one needs none', () => {
  const cs = [checkout(1), checkout(2), checkout(3, 'failed')];
  const v = evaluateEvents(snapshot(cs, [event(cs[0]!)]));
  assert.equal(v.missing, 1);
  assert.equal(v.committed, 2);
  assert.match(v.violations[0]!, /has no charge.captured event/);
});

test('two distinct event ids for one checkout are a duplicate', () => {
  const c = checkout(1);
  const v = evaluateEvents(snapshot([c], [event(c), event(c)]));
  assert.equal(v.duplicated, 1);
});

test('events for work the ledger did not commit are unexpected', () => {
  const c = checkout(1);
  const ghost = checkout(2);
  const notInOutbox = event(c);
  const v = evaluateEvents({
    checkouts: [c],
    events: [event(c, { eventId: 'in-outbox' }), notInOutbox, event(ghost, { eventId: 'ghost' })],
    outboxEventIds: new Set(['in-outbox', 'ghost']),
  });
  assert.equal(v.unexpected, 2);
  assert.equal(v.missing, 0);
});

test('an outcome event that contradicts the ledger status is unexpected', () => {
  const c = checkout(1, 'declined');
  const v = evaluateEvents(snapshot([c], [event(c, { type: 'charge.captured' })]));
  assert.equal(v.unexpected, 1);
  assert.equal(v.missing, 1);
});

test("a creator's events out of commit order are counted (first delivery decides)", () => {
  const cs = [checkout(1), checkout(2), checkout(3)];
  const [a, b, c] = cs.map((x) => event(x)) as [PublishedEvent, PublishedEvent, PublishedEvent];
  assert.equal(evaluateEvents(snapshot(cs, [a, c, b])).outOfOrder, 1);
  // A late duplicate of an earlier event does not reorder anything.
  assert.equal(evaluateEvents(snapshot(cs, [a, b, a, c])).outOfOrder, 0);
});

test('other event types are not outcome events; malformed records are reported', () => {
  const c = checkout(1);
  const renewed = event(c, {
    type: 'subscription.renewed',
    data: { subscriptionId: randomUUID(), creatorId: creator, checkoutId: c.checkoutId, period: 2 },
  });
  const broken: PublishedEvent = { ...event(c), value: 'not json' };
  const v = evaluateEvents(snapshot([c], [event(c), renewed, broken]));
  assert.equal(v.duplicated, 0);
  assert.equal(v.malformed, 1);
  assert.equal(v.distinct, 2);
});
