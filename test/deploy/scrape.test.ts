// The metrics the alerts and the dashboard read, on a real scrape of real
// processes: the embedded stack (Postgres servers, provider, API and worker
// as child processes) takes a few checkouts, then each /metrics is read over
// HTTP. Every API and worker metric named in rules.yml or the dashboard must
// be there, and the SLO rules' label selectors must match real series.
//
// Not here: the relay's outbox_* and the scheduler's metrics (their own
// processes and tests), the brokers' node exporter, cloudwatch_exporter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDrillCatalog } from '../../src/drill/drillCatalog.ts';
import { EmbeddedStack } from '../../src/drill/embeddedStack.ts';
import { planTraffic, sendTraffic } from '../../src/drill/traffic.ts';
import { SeededRandom } from '../../src/util/seededRandom.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { DASHBOARD, RULES, metricNamesIn, readYaml, yamlParser, type RuleFile } from './deployFiles.ts';

const CHECKOUTS = 20;
/** Metrics of the API and worker processes (and the queue gauges both export). */
const OURS = /^(firebreak_api_|checkout_queue_|checkout_dlq_|checkout_worker_|checkout_service_)/;

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of the first sample whose line starts with `series` (name and labels as exported). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('API, worker and provider export every metric the rules and dashboard read', async (t) => {
  const seed = 'scrape-metrics';
  const rng = new SeededRandom(seed);
  const drillCatalog = makeDrillCatalog(rng, 3);
  const stack = await EmbeddedStack.start({
    workDir: await mkdtemp(join(tmpdir(), 'firebreak-scrape-')),
    drillCatalog,
    rng,
    seed,
    visibilityTimeoutSec: 30,
    maxReceiveCount: 3,
    workerConcurrency: 4,
    providerFaults: { declineRate: 0.1, errorRate: 0, errorAfterCaptureRate: 0, latencyMs: 0 },
  });
  try {
    const sent = await sendTraffic({
      apiUrl: stack.apiUrl,
      planned: planTraffic(rng, drillCatalog, CHECKOUTS),
      concurrency: 4,
    });
    assert.equal(sent.accepted.length, CHECKOUTS);
    const workerUrl = `http://127.0.0.1:${String(stack.worker?.ready.adminPort)}`;
    const settled = (text: string) =>
      (sample(text, 'checkout_worker_processed_total{outcome="charged"}') ?? 0) +
      (sample(text, 'checkout_worker_processed_total{outcome="declined"}') ?? 0);
    const worker = await waitFor(
      'the worker to settle every checkout',
      async () => {
        const text = await scrape(workerUrl);
        return settled(text) >= CHECKOUTS ? text : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    const api = await scrape(stack.apiAdminUrl);
    const psp = await scrape(stack.pspUrl);

    // The SLO rules' selectors match the API's real labels.
    assert.ok(
      (sample(api, 'firebreak_api_http_requests_total{method="POST",route="/v1/checkouts",status="202"}') ??
        0) >= CHECKOUTS,
    );
    assert.ok(
      sample(
        api,
        'firebreak_api_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/checkouts",status="202"}',
      ) !== undefined,
      'the 100 ms bucket the latency SLO reads',
    );
    // The queue gauges, fresh, from both processes; the queue is drained.
    for (const text of [api, worker]) {
      assert.equal(sample(text, 'checkout_queue_stats_up{queue="fifo"}'), 1);
      assert.equal(sample(text, 'checkout_dlq_messages{queue="fifo"}'), 0);
      assert.ok(sample(text, 'checkout_queue_oldest_message_age_seconds{queue="fifo"}') !== undefined);
      assert.ok(sample(text, 'checkout_queue_messages{queue="fifo",state="visible"}') !== undefined);
      assert.ok(sample(text, 'checkout_queue_messages{queue="fifo",state="in_flight"}') !== undefined);
    }
    // The worker's: the retry counter the alert reads exists before the first retry.
    assert.equal(sample(worker, 'checkout_service_retry_count{queue="fifo"}'), 0);
    assert.equal(sample(worker, 'checkout_worker_breaker_state{dependency="ledger"}'), 0);
    assert.equal(sample(worker, 'checkout_worker_breaker_state{dependency="provider"}'), 0);
    assert.ok(sample(worker, 'checkout_worker_provider_errors_total{kind="transient"}') !== undefined);
    assert.ok((sample(worker, 'checkout_worker_charge_duration_seconds_count{outcome="charged"}') ?? 0) > 0);
    assert.ok((sample(psp, 'psp_captures_total') ?? 0) > 0, 'the provider exports its own metrics');

    // Every API/worker metric any rule or panel reads is in one of the scrapes.
    if (!(await yamlParser())) return t.skip('no YAML parser (js-yaml): rule expressions not cross-checked');
    const rules = (await readYaml(RULES)) as RuleFile;
    const dashboard = await readFile(DASHBOARD, 'utf8');
    const exprs = [
      ...rules.groups.flatMap((g) => g.rules).map((r) => r.expr),
      ...[...dashboard.matchAll(/"expr": "((?:[^"\\]|\\.)*)"/g)].map(
        (m) => JSON.parse(`"${m[1] ?? ''}"`) as string,
      ),
    ];
    const exported = new Set(
      [api, worker].flatMap((text) =>
        [...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]),
      ),
    );
    const missing = [...new Set(exprs.flatMap(metricNamesIn))].filter(
      (n) => OURS.test(n) && !exported.has(n),
    );
    assert.deepEqual(missing, [], 'read by a rule or panel, absent from the real scrape');
  } finally {
    await stack.stop();
  }
});
