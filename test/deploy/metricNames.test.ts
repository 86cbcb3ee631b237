// The dashboard and the rules only read metrics that exist: every metric name
// in a Grafana panel or a rule expression is registered somewhere in src/ (a
// prom-client Counter, Gauge, Histogram or Summary `name:`), is one of
// prom-client's default metrics, is one of our recording rules, or is on the
// short list of metrics other exporters provide. A renamed metric then fails
// here instead of leaving a flat panel or an alert that can never fire.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { DASHBOARD, ROOT, RULES, metricNamesIn, readYaml, yamlParser, type RuleFile } from './deployFiles.ts';

/** Metrics that come from outside our code, and from where. */
const EXTERNAL: Readonly<Record<string, string>> = {
  node_filesystem_avail_bytes: 'node exporter on the Kafka brokers (MSK open monitoring, port 11002)',
  aws_sqs_approximate_age_of_oldest_message_maximum:
    'cloudwatch_exporter: SQS ApproximateAgeOfOldestMessage (deploy/prometheus/cloudwatch-exporter.yml)',
  ALERTS: "Prometheus's own series of pending and firing alerts",
};

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

/** Names registered with prom-client in src/, with the series names a histogram or summary adds. */
async function codeMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    const text = await readFile(file, 'utf8');
    if (!text.includes("from 'prom-client'")) continue;
    for (const m of text.matchAll(/\bname:\s*'([a-zA-Z_:][a-zA-Z0-9_:]*)'/g)) {
      const name = m[1] ?? '';
      for (const suffix of ['', '_bucket', '_count', '_sum']) names.add(`${name}${suffix}`);
    }
  }
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  for (const metric of defaults.getMetricsAsArray()) {
    for (const suffix of ['', '_bucket', '_count', '_sum']) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

function dashboardExprs(dashboard: unknown): string[] {
  const exprs: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') exprs.push(value);
        else visit(value);
      }
    }
  };
  visit(dashboard);
  return exprs;
}

test('metricNamesIn finds metrics, not functions, labels, keywords or variables', () => {
  assert.deepEqual(
    metricNamesIn(
      'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{route="/v1/x", le="0.1"}[$__rate_interval])))',
    ),
    ['a_seconds_bucket'],
  );
  assert.deepEqual(metricNamesIn('x:ratio_rate1h > (14.4 * 0.001)\nand\ny_total offset 5m > 1e3'), [
    'x:ratio_rate1h',
    'y_total',
  ]);
  assert.deepEqual(metricNamesIn('max without (instance, job) (q) / on (queue) group_left (state) r'), [
    'q',
    'r',
  ]);
});

test('every metric the dashboard and the rules read is exported by our code, a rule or a known exporter', async (t) => {
  if (!(await yamlParser())) return t.skip('no YAML parser (js-yaml) in node_modules: run npm ci');
  const code = await codeMetricNames();
  const rules = (await readYaml(RULES)) as RuleFile;
  const recorded = new Set(rules.groups.flatMap((g) => g.rules).flatMap((r) => (r.record ? [r.record] : [])));
  const known = (name: string) => code.has(name) || recorded.has(name) || name in EXTERNAL;

  const dashboard: unknown = JSON.parse(await readFile(DASHBOARD, 'utf8'));
  const panelExprs = dashboardExprs(dashboard);
  assert.ok(panelExprs.length >= 15, 'the dashboard has its panels');
  const ruleExprs = rules.groups.flatMap((g) => g.rules).map((r) => r.expr);

  const unknown: string[] = [];
  for (const [where, exprs] of [
    ['deploy/grafana/checkout-pipeline.json', panelExprs],
    ['deploy/prometheus/rules.yml', ruleExprs],
  ] as const) {
    for (const expr of exprs) {
      for (const name of metricNamesIn(expr)) {
        if (!known(name)) unknown.push(`${where}: ${name} (in ${expr.trim().slice(0, 80)}...)`);
      }
    }
  }
  assert.deepEqual(unknown, [], 'metrics nobody exports');
});

test('the dashboard covers the pipeline: accept, queue, worker, provider, breakers, outbox', async () => {
  const text = await readFile(DASHBOARD, 'utf8');
  for (const metric of [
    'firebreak_api_http_requests_total',
    'firebreak_api_http_request_duration_seconds_bucket',
    'checkout_queue_messages',
    'checkout_queue_oldest_message_age_seconds',
    'checkout_dlq_messages',
    'checkout_worker_processed_total',
    'checkout_service_retry_count',
    'checkout_worker_breaker_state',
    'checkout_worker_charge_duration_seconds_bucket',
    'checkout_worker_provider_errors_total',
    'outbox_lag_seconds',
  ]) {
    assert.ok(text.includes(metric), `no panel reads ${metric}`);
  }
});
