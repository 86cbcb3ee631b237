// Drill scenarios through the real CLI: a fault alongside seeded traffic,
// its result under "scenarios" in --json, and the money audit after it.

import { after, test } from 'node:test';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { skipWithoutKcat } from '../helpers/kafka.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

async function drill(args: string[], env: Record<string, string> = {}) {
  const reports = await mkdtemp(join(tmpdir(), 'firebreak-scenario-reports-'));
  after(() => rm(reports, { recursive: true, force: true }));
  return new Promise<{ code: number; stdout: string; stderr: string; reports: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'drill', '--report-dir', reports, ...args],
      { timeout: 280_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, reports });
      },
    );
  });
}

interface ScenarioJson {
  verdict: string;
  summary: string;
  measurements: Record<string, number | null>;
  violations: string[];
}

test(
  'drill --scenario kafka-outage: the broker hangs under traffic, checkouts keep committing, every event reaches the bus once',
  { skip: skipWithoutKcat },
  async () => {
    const r = await drill([
      '--json',
      '--checkouts',
      '200',
      '--creators',
      '8',
      '--seed',
      'ko',
      '--scenario',
      'kafka-outage',
    ]);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.doesNotMatch(r.stderr, /TimeoutNegativeWarning/, 'the known kafkajs timer warning is filtered');
    const result = JSON.parse(r.stdout) as {
      verdict: string;
      accepted: number;
      eventBus: string;
      events: { committed: number; distinct: number; missing: number; unexpected: number };
      scenarios: Record<string, ScenarioJson>;
    };
    assert.equal(result.verdict, 'pass');
    assert.equal(result.eventBus, 'kafka');
    const ko = result.scenarios['kafka-outage'];
    assert.ok(ko, 'the scenario is reported under scenarios');
    assert.equal(ko.verdict, 'pass', ko.violations.join('; '));
    assert.equal(ko.measurements.acceptedDuringOutage, 150);
    assert.equal(ko.measurements.clientErrorsDuringOutage, 0);
    assert.ok((ko.measurements.committedDuringOutage ?? 0) > 0, 'the worker committed without Kafka');
    assert.ok((ko.measurements.peakUnpublished ?? 0) > 0, 'the outbox held events during the outage');
    assert.equal(typeof ko.measurements.drainMs, 'number');
    // The scenario's own checkouts are audited with the drill's.
    assert.equal(result.accepted, 350);
    assert.equal(result.events.committed, result.events.distinct);
    assert.equal(result.events.missing, 0);
    assert.equal(result.events.unexpected, 0);
    assert.match(r.stderr, /scenario kafka-outage: PASS/);
  },
);

test('drill --scenario renewals: the scheduler clock jumps 40 days and every due period is billed exactly once', async () => {
  const r = await drill([
    '--json',
    '--checkouts',
    '200',
    '--creators',
    '6',
    '--seed',
    'rn',
    '--scenario',
    'renewals',
  ]);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const result = JSON.parse(r.stdout) as {
    verdict: string;
    renewals: { subscriptions: number; charged: number; periodsBilledTwice: number; dueUnbilled: number };
    scenarios: Record<string, ScenarioJson>;
  };
  assert.equal(result.verdict, 'pass');
  const rn = result.scenarios.renewals;
  assert.ok(rn, 'the scenario is reported under scenarios');
  assert.equal(rn.verdict, 'pass', rn.violations.join('; '));
  assert.ok((rn.measurements.subscriptions ?? 0) > 0);
  assert.ok((rn.measurements.renewalsCharged ?? 0) >= (rn.measurements.subscriptions ?? 0) / 2);
  assert.equal(rn.measurements.periodsBilledTwice, 0);
  assert.equal(rn.measurements.periodsMissing, 0);
  // The drill's own audit sees the same renewals at the scheduler's clock.
  assert.equal(result.renewals.charged, rn.measurements.renewalsCharged);
  assert.equal(result.renewals.dueUnbilled, 0);
});

test('a breached recovery SLO fails the drill, pages (PagerDuty Events v2) and notifies, and the routing key stays secret', async (t) => {
  const received: { path: string; body: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(202).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const secret = 'pd-routing-key-0123456789abcdef';
  // Billing a renewal backlog takes at least one scheduler interval (500 ms): a 1 ms SLO is always breached.
  const r = await drill(
    [
      '--checkouts',
      '60',
      '--creators',
      '3',
      '--seed',
      'page',
      '--scenario',
      'renewals',
      '--recovery-slo',
      '0.001',
      '--page-url',
      `${base}/v2/enqueue`,
      '--notify-url',
      `${base}/chat`,
    ],
    { FIREBREAK_PAGERDUTY_ROUTING_KEY: secret },
  );
  assert.equal(r.code, 1, r.stderr.slice(-2000));
  assert.match(r.stdout, /recovery SLO breached/);
  assert.match(r.stdout, /Verdict: FAIL/);
  const page = received.find((x) => x.path === '/v2/enqueue');
  assert.ok(page, 'a page was sent');
  assert.equal(page.body.routing_key, secret);
  assert.equal(page.body.event_action, 'trigger');
  assert.match(String((page.body.payload as { summary: string }).summary), /scenarios failed: renewals/);
  const chat = received.find((x) => x.path === '/chat');
  assert.ok(chat, 'the chat notification was sent');
  assert.match(String(chat.body.text), /Firebreak drill FAIL/);
  const [runDir] = await readdir(r.reports);
  assert.ok(runDir, 'a report directory was written');
  for (const file of ['journal.json', 'summary.md', 'report.html']) {
    const text = await readFile(join(r.reports, runDir, file), 'utf8');
    assert.ok(!text.includes(secret), `${file} does not contain the routing key`);
  }
  assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'the routing key is never printed');
});

test('--page-url without a routing key is a usage error before anything starts', async () => {
  const r = await drill(['--page-url', 'http://127.0.0.1:9/v2/enqueue'], {
    FIREBREAK_PAGERDUTY_ROUTING_KEY: '',
  });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^FB_USAGE: --page-url needs a PagerDuty routing key: set FIREBREAK_PAGERDUTY_ROUTING_KEY/,
  );
});

test('drill --config staging runs the services on their staging namespaces and records the proof promote asks for', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-config-drill-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const state = join(dir, 'records.jsonl');
  const promote = (stateFile: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'config', 'promote', '--service', 'worker', '--to', 'prod', '--dry-run', '--state', stateFile],
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  // Before any drill: refused, and told what to run.
  const refused = await promote(state);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /firebreak drill --config staging/);

  const r = await drill([
    '--json',
    '--checkouts',
    '40',
    '--creators',
    '4',
    '--seed',
    'cfg',
    '--config',
    'staging',
    '--state',
    state,
  ]);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const result = JSON.parse(r.stdout) as {
    config: { env: string; services: Record<string, { hash: string }> };
  };
  assert.equal(result.config.env, 'staging');
  const records = (await readFile(state, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { service: string; hash: string; verdict: string; env: string });
  assert.deepEqual(records.map((x) => x.service).sort(), ['api', 'relay', 'scheduler', 'worker']);
  for (const rec of records) {
    assert.equal(rec.verdict, 'pass');
    assert.equal(rec.env, 'staging');
    assert.equal(rec.hash, result.config.services[rec.service]?.hash);
  }
  const allowed = await promote(state);
  assert.equal(allowed.code, 0, allowed.stderr);
});

test('drill --config with an unknown environment is a usage error', async () => {
  const r = await drill(['--config', 'production']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^FB_USAGE: --config: must be one of staging, prod/);
});
