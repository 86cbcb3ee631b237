// Outbox lag under sustained load: how long a committed event waits before
// the event bus acknowledges it (outbox.published_at − outbox.created_at, per
// event, read from the ledger after the run), while the embedded stack takes
// checkouts at a steady rate. The baseline, measured in the same run on the
// same broker: a direct produce of one record with acks from all replicas
// (what the relay waits for), so the ratio says what the outbox adds on top
// of the broker's own round trip (polling, batching, the mark-published write).
//
//   node bench/outboxLag.bench.ts [--rate 200] [--seconds 30] [--json]
//
// The Kafka peer is librdkafka's mock cluster (kcat); without kcat the events
// go to the file sink and the baseline is an fsync'd append instead.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { makeDrillCatalog } from '../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../src/drill/embeddedStack.ts';
import { planTraffic, sendTraffic } from '../src/drill/traffic.ts';
import { KafkaEventBus } from '../src/eventBus/KafkaEventBus.ts';
import { FileEventBus } from '../src/eventBus/FileEventBus.ts';
import { outboxStats } from '../src/outbox/outboxSql.ts';
import { SeededRandom } from '../src/util/seededRandom.ts';
import { waitFor } from '../src/util/waitFor.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
if (
  !Number.isInteger(rate) ||
  rate < 1 ||
  rate > 5_000 ||
  !Number.isInteger(seconds) ||
  seconds < 1 ||
  seconds > 3_600
) {
  process.stderr.write('FB_USAGE: --rate must be 1..5000 checkouts/s and --seconds 1..3600\n');
  process.exit(2);
}
const say = (line: string) => process.stderr.write(`${line}\n`);

function percentiles(sorted: readonly number[]): { p50: number; p99: number; max: number } {
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  const r = (n: number) => Math.round(n * 10) / 10;
  return { p50: r(at(0.5)), p99: r(at(0.99)), max: r(sorted.at(-1) ?? 0) };
}

const rng = new SeededRandom('outbox-lag');
const drillCatalog = makeDrillCatalog(rng, 50);
const stack = await EmbeddedStack.start({
  workDir: await mkdtemp(join(tmpdir(), 'firebreak-bench-outbox-')),
  drillCatalog,
  rng,
  seed: 'outbox-lag',
  visibilityTimeoutSec: 30,
  maxReceiveCount: 3,
  workerConcurrency: 16,
  providerFaults: { declineRate: 0.05, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
  onProgress: say,
});
try {
  say(`event bus: ${stack.eventBusMode}; sending ${rate} checkouts/s for ${seconds}s`);
  // Steady load: one second's worth at a time, then wait for the next second (pacing, not synchronisation).
  const t0 = performance.now();
  let accepted = 0;
  for (let s = 0; s < seconds; s++) {
    const sent = await sendTraffic({
      apiUrl: stack.apiUrl,
      planned: planTraffic(rng, drillCatalog, rate),
      concurrency: 32,
    });
    accepted += sent.accepted.length;
    const next = t0 + (s + 1) * 1000;
    if (performance.now() < next) await new Promise((r) => setTimeout(r, next - performance.now()));
  }
  const offeredSec = (performance.now() - t0) / 1000;
  const ledger = new pg.Pool({ connectionString: stack.ledgerUrl, max: 1 });
  ledger.on('error', () => {});
  try {
    await waitFor(
      'every checkout settled and its events published',
      async () => {
        const n = Number((await ledger.query<{ n: string }>('SELECT count(*) n FROM checkouts')).rows[0]?.n);
        return n >= accepted && (await outboxStats(ledger)).unpublished === 0;
      },
      { timeoutMs: 300_000, intervalMs: 250 },
    );
    const lags = (
      await ledger.query<{ ms: number }>(
        `SELECT (extract(epoch FROM published_at - created_at) * 1000)::float8 ms FROM outbox ORDER BY 1`,
      )
    ).rows.map((r) => r.ms);
    const lag = percentiles(lags);

    // Baseline: the bus's own round trip for one record, as the relay waits for it.
    const samples: number[] = [];
    const bus =
      stack.kafka !== undefined
        ? new KafkaEventBus({ brokers: [stack.kafka.bootstrap] })
        : new FileEventBus(join(stack.options.workDir, 'baseline.jsonl'));
    try {
      for (let i = 0; i < 500; i++) {
        const started = performance.now();
        await bus.publish([
          { topic: 'bench-baseline', key: `k${i % 50}`, eventId: `baseline-${i}`, value: '{}', headers: {} },
        ]);
        samples.push(performance.now() - started);
      }
    } finally {
      await bus.close();
    }
    const baseline = percentiles(samples.sort((a, b) => a - b));
    const result = {
      eventBus: stack.eventBusMode,
      offeredRate: rate,
      seconds,
      accepted,
      acceptedPerSec: Math.round(accepted / offeredSec),
      events: lags.length,
      outboxLagMs: lag,
      baselinePublishMs: baseline,
      ratioP50: baseline.p50 > 0 ? Math.round((lag.p50 / baseline.p50) * 10) / 10 : null,
      ratioP99: baseline.p99 > 0 ? Math.round((lag.p99 / baseline.p99) * 10) / 10 : null,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else
      process.stdout.write(
        [
          `outbox lag under ${result.acceptedPerSec} checkouts/s for ${seconds}s (${result.events} events, ${result.eventBus})`,
          `  outbox lag (published_at - created_at)  p50 ${lag.p50} ms   p99 ${lag.p99} ms   max ${lag.max} ms`,
          `  baseline: one direct publish            p50 ${baseline.p50} ms   p99 ${baseline.p99} ms   max ${baseline.max} ms`,
          `  ratio lag / baseline                    p50 ${result.ratioP50}x   p99 ${result.ratioP99}x`,
          '',
        ].join('\n'),
      );
  } finally {
    await ledger.end();
  }
} finally {
  await stack.stop();
}
