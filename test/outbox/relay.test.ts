// The relay library against real Postgres and the real Kafka peer (kcat's
// librdkafka mock cluster) or the file sink.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { EventBus, EventReader } from '../../src/eventBus/EventBus.ts';
import { FileEventBus, readEventFile } from '../../src/eventBus/FileEventBus.ts';
import { KafkaEventBus } from '../../src/eventBus/KafkaEventBus.ts';
import { auditEvents } from '../../src/audit/eventsAudit.ts';
import { RELAY_LOCK_KEY } from '../../src/outbox/outboxSql.ts';
import { OutboxRelay } from '../../src/outbox/relay.ts';
import { eventTopicSpec } from '../../src/outbox/topics.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { skipWithoutKcat, startKafka } from '../helpers/kafka.ts';
import {
  checkoutIdOf,
  commitCheckouts,
  dedupByEventId,
  insertRawEvent,
  openLedger,
  outboxCounts,
  rolledBackEvent,
  type LedgerFixture,
} from './outboxFixture.ts';

const TOPIC = 'checkout-events';
const topic = eventTopicSpec({ name: TOPIC, partitions: 4, retentionMs: 86_400_000, replicationFactor: 3 });

interface Harness {
  readonly f: LedgerFixture;
  readonly pool: pg.Pool;
  readonly bus: EventBus;
  readonly read: EventReader;
  relay(options?: Partial<ConstructorParameters<typeof OutboxRelay>[0]>): OutboxRelay;
}

async function harness(t: TestContext, kind: 'kafka' | 'file'): Promise<Harness> {
  const f = await openLedger(3);
  const pool = new pg.Pool({ connectionString: f.url, max: 4 });
  pool.on('error', () => {});
  let bus: EventBus;
  let read: EventReader;
  if (kind === 'kafka') {
    const kafka = await startKafka();
    bus = new KafkaEventBus({ brokers: [kafka.bootstrap], publishTimeoutMs: 5_000 });
    read = (name) => kafka.readTopic(name);
  } else {
    const path = join(await mkdtemp(join(tmpdir(), 'firebreak-events-')), 'events.jsonl');
    bus = new FileEventBus(path);
    read = (name) => readEventFile(path, name);
  }
  const relays: OutboxRelay[] = [];
  t.after(async () => {
    await Promise.allSettled(relays.map((r) => r.stop()));
    await bus.close();
    await pool.end();
    await f.close();
  });
  return {
    f,
    pool,
    bus,
    read,
    relay: (options = {}) => {
      const r = new OutboxRelay({
        pool,
        bus,
        topic,
        pollIntervalMs: 50,
        retryInitialMs: 50,
        retryMaxMs: 500,
        ...options,
      });
      relays.push(r);
      return r;
    },
  };
}

for (const kind of ['kafka', 'file'] as const) {
  const skip = kind === 'kafka' ? skipWithoutKcat : false;

  test(
    `${kind}: committed rows are published keyed by creator, with the event id in a header, then marked`,
    { skip },
    async (t) => {
      const h = await harness(t, kind);
      const committed = await commitCheckouts(h.f, 30);
      const relay = h.relay();
      await relay.declareTopics();
      relay.start();
      await waitFor('the outbox to drain', async () => (await outboxCounts(h.f.url)).unpublished === 0, {
        timeoutMs: 60_000,
      });
      const events = await h.read(TOPIC);
      assert.equal(dedupByEventId(events).length, 30);
      const creatorOf = new Map(committed.map((c) => [c.checkoutId, c.creatorId]));
      for (const e of events) {
        assert.equal(e.key, creatorOf.get(checkoutIdOf(e)), 'keyed by the creator');
        assert.match(e.headers['event-id'] ?? '', /^[0-9a-f-]{36}$/);
        assert.match(e.headers['event-type'] ?? '', /^(charge\.captured|checkout\.declined)$/);
        assert.equal(e.headers['schema-version'], '1');
      }
      if (kind === 'kafka') {
        const partitionsOf = new Map<string, Set<number>>();
        for (const e of events)
          partitionsOf.set(e.key, (partitionsOf.get(e.key) ?? new Set()).add(e.partition));
        for (const [creator, ps] of partitionsOf)
          assert.equal(ps.size, 1, `creator ${creator} on one partition`);
      }
      const verdicts = await auditEvents({ ledgerUrl: h.f.url, topic: TOPIC, read: h.read });
      assert.deepEqual(verdicts.violations, []);
      assert.equal(verdicts.committed, 30);
      const metrics = await relay.registry.metrics();
      assert.match(metrics, /^outbox_published_total 30$/m);
    },
  );
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

for (const kind of ['kafka', 'file'] as const) {
  const skip = kind === 'kafka' ? skipWithoutKcat : false;

  test(
    `${kind}: rolled-back work produces no event; invalid rows are parked, not published, and do not block the rest`,
    { skip },
    async (t) => {
      const h = await harness(t, kind);
      const [creator, other] = h.f.creators as [string, string];
      const rolledBack = await rolledBackEvent(h.f.url, creator);
      const before = await commitCheckouts(h.f, 6);
      const invalid = [
        await insertRawEvent(h.f.url, {
          creatorId: creator,
          type: 'charge.refunded',
          version: 1,
          payload: {},
        }),
        await insertRawEvent(h.f.url, {
          creatorId: creator,
          type: 'checkout.declined',
          version: 2,
          payload: { checkoutId: before[0]!.checkoutId, creatorId: creator, declineCode: 'x' },
        }),
        await insertRawEvent(h.f.url, {
          creatorId: creator,
          type: 'charge.captured',
          version: 1,
          payload: { checkoutId: before[0]!.checkoutId, creatorId: creator, amountMinor: 12.5 },
        }),
        // Keyed by one creator, about another: it would land in the wrong creator's order.
        await insertRawEvent(h.f.url, {
          creatorId: creator,
          type: 'checkout.declined',
          version: 1,
          payload: { checkoutId: before[0]!.checkoutId, creatorId: other, declineCode: 'x' },
        }),
      ];
      const after = await commitCheckouts(h.f, 6);
      const parked: string[] = [];
      const relay = h.relay({ events: { onParked: (p) => parked.push(p.eventId) } });
      await relay.declareTopics();
      relay.start();
      await waitFor(
        'every valid row to be published',
        async () => (await outboxCounts(h.f.url)).published === 12,
        {
          timeoutMs: 60_000,
        },
      );
      await waitFor('the invalid rows to be parked', () => parked.length === 4, { timeoutMs: 30_000 });
      assert.deepEqual(new Set(parked), new Set(invalid));
      const events = await h.read(TOPIC);
      const ids = new Set(events.map((e) => e.headers['event-id']));
      assert.ok(!ids.has(rolledBack), 'no event for rolled-back work');
      for (const id of invalid) assert.ok(!ids.has(id), `invalid event ${id} not published`);
      assert.deepEqual(
        new Set(dedupByEventId(events).map(checkoutIdOf)),
        new Set([...before, ...after].map((c) => c.checkoutId)),
      );
      const counts = await outboxCounts(h.f.url);
      assert.equal(counts.unpublished, 4, 'parked rows stay unpublished in the outbox');
      await relay.refreshStats(true);
      const text = await relay.registry.metrics();
      assert.equal(metric(text, 'outbox_unpublished_rows'), 0, 'parked rows are not backlog');
      assert.equal(metric(text, 'outbox_parked_rows'), 4);
      assert.equal(
        text
          .split('\n')
          .filter((l) => l.startsWith('outbox_invalid_events_total{'))
          .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0),
        4,
      );
    },
  );
}

test('two relays at once: one publishes at a time, no batch goes out twice, order kept', async (t) => {
  const h = await harness(t, 'file');
  await commitCheckouts(h.f, 200);
  const a = h.relay({ batchSize: 7, pollIntervalMs: 5 });
  const b = h.relay({ batchSize: 7, pollIntervalMs: 5 });
  await Promise.all([a.declareTopics(), b.declareTopics()]);
  a.start();
  b.start();
  await waitFor('the outbox to drain', async () => (await outboxCounts(h.f.url)).unpublished === 0, {
    timeoutMs: 60_000,
  });
  const events = await h.read(TOPIC);
  assert.equal(events.length, 200, 'every event exactly once (no failures, so no duplicates)');
  const verdicts = await auditEvents({ ledgerUrl: h.f.url, topic: TOPIC, read: h.read });
  assert.deepEqual(verdicts.violations, []);
});

test('a relay that cannot take the relay lock publishes nothing until the holder lets go', async (t) => {
  const h = await harness(t, 'file');
  await commitCheckouts(h.f, 5);
  const relay = h.relay();
  await relay.declareTopics();
  // Its own connection, not the harness pool's: pool.end() in cleanup would wait for it.
  const holder = new pg.Client({ connectionString: h.f.url });
  await holder.connect();
  t.after(() => holder.end());
  await holder.query('BEGIN');
  await holder.query('SELECT pg_advisory_xact_lock($1)', [RELAY_LOCK_KEY.toString()]);
  assert.deepEqual(await relay.relayBatch(), { leader: false, published: 0, parked: 0 });
  assert.equal((await h.read(TOPIC)).length, 0);
  await holder.query('COMMIT');
  assert.deepEqual(await relay.relayBatch(), { leader: true, published: 5, parked: 0 });
});

test(
  'kafka: brokers hung (SIGSTOP): the outbox grows and lag rises while the relay retries; resumed, it drains in order',
  { skip: skipWithoutKcat },
  async (t) => {
    const f = await openLedger(4);
    const pool = new pg.Pool({ connectionString: f.url, max: 4 });
    pool.on('error', () => {});
    const kafka = await startKafka();
    const bus = new KafkaEventBus({
      brokers: [kafka.bootstrap],
      publishTimeoutMs: 3_000,
      connectionTimeoutMs: 1_000,
    });
    const relay = new OutboxRelay({
      pool,
      bus,
      topic,
      pollIntervalMs: 50,
      retryInitialMs: 100,
      retryMaxMs: 1_000,
    });
    t.after(async () => {
      kafka.resume();
      await relay.stop();
      await bus.close();
      await pool.end();
      await f.close();
    });
    await relay.declareTopics();
    relay.start();
    await commitCheckouts(f, 20);
    await waitFor('the first events out', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 60_000,
    });

    kafka.pause();
    await commitCheckouts(f, 40);
    await waitFor(
      'publish errors',
      async () => metric(await relay.registry.metrics(), 'outbox_publish_errors_total{stage="publish"}') >= 2,
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal((await outboxCounts(f.url)).unpublished, 40, 'nothing marked while the brokers hang');
    const lagAt = metric(await relay.registry.metrics(), 'outbox_lag_seconds');
    await waitFor(
      'lag to rise',
      async () => metric(await relay.registry.metrics(), 'outbox_lag_seconds') > lagAt + 1,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    assert.ok(metric(await relay.registry.metrics(), 'outbox_unpublished_rows') >= 40);

    kafka.resume();
    await waitFor('the backlog to drain', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 90_000,
    });
    const verdicts = await auditEvents({ ledgerUrl: f.url, topic: TOPIC, read: (n) => kafka.readTopic(n) });
    assert.deepEqual(verdicts.violations, []);
    assert.equal(verdicts.committed, 60);
    assert.equal(verdicts.distinct, 60);
    await relay.refreshStats(true);
    assert.equal(metric(await relay.registry.metrics(), 'outbox_lag_seconds'), 0);
  },
);

test('a failing bus: the relay backs off (full jitter, capped), counts each failure, marks nothing, then publishes once it recovers', async (t) => {
  const h = await harness(t, 'file');
  await commitCheckouts(h.f, 10);
  let failures = 5;
  const flaky: EventBus = {
    kind: 'file',
    declareTopics: (specs) => h.bus.declareTopics(specs),
    describeTopics: (names) => h.bus.describeTopics(names),
    publish: async (records) => {
      if (failures > 0) {
        failures--;
        assert.equal((await outboxCounts(h.f.url)).published, 0, 'nothing marked while the bus fails');
        throw new Error('broker unavailable');
      }
      return h.bus.publish(records);
    },
    close: () => Promise.resolve(),
  };
  const delays: number[] = [];
  const relay = h.relay({
    bus: flaky,
    retryInitialMs: 20,
    retryMaxMs: 100,
    events: { onRetry: (_err, _attempt, delayMs) => delays.push(delayMs) },
  });
  await relay.declareTopics();
  relay.start();
  await waitFor('the outbox to drain', async () => (await outboxCounts(h.f.url)).unpublished === 0, {
    timeoutMs: 30_000,
  });
  assert.equal(delays.length, 5);
  for (const d of delays) assert.ok(d >= 0 && d <= 100, `delay ${d} within [0, max]`);
  assert.equal(metric(await relay.registry.metrics(), 'outbox_publish_errors_total{stage="publish"}'), 5);
  assert.equal((await h.read(TOPIC)).length, 10, 'published exactly once after recovery');
});
