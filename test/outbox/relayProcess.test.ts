// The relay as a real process (src/outbox/main.ts) against real Postgres and
// the Kafka peer: crashes mid-batch, a broker replaced by a new cluster, the
// file sink, configuration errors and a graceful stop.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { auditEvents } from '../../src/audit/eventsAudit.ts';
import type { EventReader } from '../../src/eventBus/EventBus.ts';
import { readEventFile } from '../../src/eventBus/FileEventBus.ts';
import { RELAY_LOCK_KEY } from '../../src/outbox/outboxSql.ts';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { skipWithoutKcat, startKafka } from '../helpers/kafka.ts';
import {
  commitCheckouts,
  dedupByEventId,
  openLedger,
  outboxCounts,
  rolledBackEvent,
} from './outboxFixture.ts';

const RELAY_MAIN = fileURLToPath(new URL('../../src/outbox/main.ts', import.meta.url));
const TOPIC = 'checkout-events';

async function relayProcess(t: TestContext, env: Record<string, string>): Promise<ServiceProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-relay-'));
  const relay = new ServiceProcess({
    name: 'relay',
    entry: RELAY_MAIN,
    env: {
      EVENT_TOPIC: TOPIC,
      EVENT_TOPIC_PARTITIONS: '4',
      RELAY_POLL_INTERVAL_MS: '50',
      RELAY_RETRY_INITIAL_MS: '100',
      RELAY_RETRY_MAX_MS: '1000',
      RELAY_PUBLISH_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'info',
      ...env,
    },
    logFile: join(dir, 'relay.log'),
    readyTimeoutMs: 60_000,
  });
  t.after(() => relay.stop());
  return relay;
}

async function scrape(relay: ServiceProcess, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${String(relay.ready.adminPort)}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

/** True while some session holds the relay's advisory lock (a batch is in flight). */
async function relayLockHeld(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const key = RELAY_LOCK_KEY;
    const res = await client.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2`,
      [String(key >> 32n), String(key & 0xffffffffn)],
    );
    return (res.rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

test(
  'kafka: relay SIGKILLed mid-batch and restarted: exactly one distinct event per committed checkout, none for rolled-back work',
  { skip: skipWithoutKcat },
  async (t) => {
    const f = await openLedger(4);
    t.after(() => f.close());
    const kafka = await startKafka();
    t.after(() => kafka.resume());
    const relay = await relayProcess(t, {
      LEDGER_DATABASE_URL: f.url,
      EVENT_BUS: 'kafka',
      KAFKA_BROKERS: kafka.bootstrap,
    });
    await relay.start();
    assert.equal(relay.ready.eventBus, 'kafka');
    const first = await commitCheckouts(f, 25);
    await waitFor('the first batch out', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 60_000,
    });

    // Hang the brokers so the next batch stays in flight: the relay holds its lock
    // in an open transaction, waiting for acks. Then crash it there.
    kafka.pause();
    const rolledBack = await rolledBackEvent(f.url, f.creators[0]!);
    const second = await commitCheckouts(f, 25);
    await waitFor('a batch in flight', () => relayLockHeld(f.url), { timeoutMs: 30_000 });
    await relay.kill();
    kafka.resume(); // requests the brokers had buffered may still land: duplicates, by design
    assert.ok((await outboxCounts(f.url)).unpublished >= 25, 'the killed batch was not marked published');

    await relay.start();
    const third = await commitCheckouts(f, 10);
    await waitFor('everything out', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 90_000,
    });
    const events = await kafka.readTopic(TOPIC);
    assert.ok(!events.some((e) => e.headers['event-id'] === rolledBack), 'no event for rolled-back work');
    assert.equal(dedupByEventId(events).length, first.length + second.length + third.length);
    const verdicts = await auditEvents({ ledgerUrl: f.url, topic: TOPIC, read: (n) => kafka.readTopic(n) });
    assert.deepEqual(verdicts.violations, []);
    assert.equal(verdicts.committed, 60);
    assert.equal(verdicts.missing + verdicts.duplicated + verdicts.unexpected + verdicts.outOfOrder, 0);
    t.diagnostic(`records on the bus ${verdicts.published}, distinct ${verdicts.distinct}`);
  },
);

test(
  'kafka: broker killed and replaced behind the same bootstrap: the ledger keeps committing, lag rises, the relay reconnects and drains in order',
  { skip: skipWithoutKcat },
  async (t) => {
    const f = await openLedger(5);
    t.after(() => f.close());
    const kafka = await startKafka();
    const relay = await relayProcess(t, {
      LEDGER_DATABASE_URL: f.url,
      EVENT_BUS: 'kafka',
      KAFKA_BROKERS: kafka.bootstrap,
    });
    await relay.start();
    await commitCheckouts(f, 30);
    await waitFor('the first events out', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 60_000,
    });

    // Killed while the relay is idle, so the mock's in-memory log can be kept (see kcatMockCluster.ts).
    await kafka.kill({ retain: [TOPIC] });
    const during = await commitCheckouts(f, 40);
    assert.equal(during.length, 40, 'the ledger commits while the broker is gone');
    await waitFor(
      'publish errors',
      async () => (await scrape(relay, 'outbox_publish_errors_total{stage="publish"}')) >= 1,
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal((await outboxCounts(f.url)).unpublished, 40);
    await waitFor(
      'outbox_lag_seconds above 2 s',
      async () => (await scrape(relay, 'outbox_lag_seconds')) > 2,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    assert.ok((await scrape(relay, 'outbox_unpublished_rows')) >= 40);

    await kafka.restart();
    await waitFor('the backlog to drain', async () => (await outboxCounts(f.url)).unpublished === 0, {
      timeoutMs: 120_000,
    });
    const verdicts = await auditEvents({ ledgerUrl: f.url, topic: TOPIC, read: (n) => kafka.readTopic(n) });
    assert.deepEqual(verdicts.violations, []);
    assert.equal(verdicts.committed, 70);
    assert.equal(verdicts.distinct, 70);
  },
);

test('file sink: relay SIGKILLed and restarted: every committed event once (deduped), in order, none for rolled-back work', async (t) => {
  const f = await openLedger(4);
  t.after(() => f.close());
  const eventFile = join(await mkdtemp(join(tmpdir(), 'firebreak-events-')), 'events.jsonl');
  const read: EventReader = (name) => readEventFile(eventFile, name);
  const relay = await relayProcess(t, {
    LEDGER_DATABASE_URL: f.url,
    EVENT_BUS: 'file',
    EVENT_FILE: eventFile,
    RELAY_BATCH_SIZE: '5',
  });
  await relay.start();
  assert.equal(relay.ready.eventBus, 'file');
  const rolledBack = await rolledBackEvent(f.url, f.creators[1]!);
  await commitCheckouts(f, 60);
  await waitFor('some events out', async () => (await outboxCounts(f.url)).published >= 10, {
    timeoutMs: 60_000,
  });
  await relay.kill();
  await commitCheckouts(f, 20);
  await relay.start();
  await waitFor('everything out', async () => (await outboxCounts(f.url)).unpublished === 0, {
    timeoutMs: 60_000,
  });
  const events = await read(TOPIC);
  assert.ok(!events.some((e) => e.headers['event-id'] === rolledBack));
  const verdicts = await auditEvents({ ledgerUrl: f.url, topic: TOPIC, read });
  assert.deepEqual(verdicts.violations, []);
  assert.equal(verdicts.committed, 80);
});

test('the relay process: health, metrics, a graceful SIGTERM, and bad configuration exits 2 naming the variable', async (t) => {
  const f = await openLedger(2);
  t.after(() => f.close());
  const eventFile = join(await mkdtemp(join(tmpdir(), 'firebreak-events-')), 'events.jsonl');
  const relay = await relayProcess(t, {
    LEDGER_DATABASE_URL: f.url,
    EVENT_BUS: 'file',
    EVENT_FILE: eventFile,
  });
  await relay.start();
  const admin = `http://127.0.0.1:${String(relay.ready.adminPort)}`;
  assert.equal((await fetch(`${admin}/livez`)).status, 200);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);
  const metrics = await fetch(`${admin}/metrics`).then((r) => r.text());
  for (const name of [
    'outbox_lag_seconds',
    'outbox_unpublished_rows',
    'outbox_published_total',
    'outbox_publish_errors_total',
    'outbox_invalid_events_total',
    'event_topic_retention_drift',
  ]) {
    assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'));
  }
  const started = Date.now();
  await relay.stop();
  assert.ok(!relay.running);
  t.diagnostic(`stopped in ${Date.now() - started} ms`);

  const bad = spawnSync(process.execPath, [RELAY_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      LEDGER_DATABASE_URL: f.url,
      EVENT_BUS: 'kafka',
      EVENT_TOPIC_RETENTION_MS: '-1',
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /KAFKA_BROKERS: is required when EVENT_BUS=kafka/);
  assert.match(bad.stderr, /EVENT_TOPIC_RETENTION_MS/);
});
