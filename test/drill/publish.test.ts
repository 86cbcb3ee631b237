// The drill's files and messages: the HTML report opens from disk with no
// network, the summary and journal are written, a failed verdict pages in
// PagerDuty Events v2 form, a pass never pages, and the routing key never
// reaches a file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { faultWindows, formatHtmlReport, rates } from '../../src/drill/htmlReport.ts';
import {
  formatMarkdownSummary,
  pagerDutyEvent,
  sendNotification,
  sendPage,
  writeReports,
} from '../../src/drill/publish.ts';
import { withinSlo } from '../../src/drill/runDrill.ts';
import { sampleDrillResult } from '../helpers/drillResult.ts';

test('the HTML report is self-contained: no scripts, no external references, escaped text', () => {
  const html = formatHtmlReport(sampleDrillResult());
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, 'nothing is fetched from a network');
  assert.doesNotMatch(html, /@import|url\(/i);
  assert.match(html, /<svg /);
  assert.match(html, /<rect class="fault"[^>]*><title>primary-kill: SIGKILL the ledger primary \(4\.5s\)/);
  assert.match(html, /<line class="recovered"/);
  assert.match(html, /&lt;b&gt;under load&lt;\/b&gt;/, 'scenario text is escaped');
  assert.match(html, /ledger failover mode <code>restart<\/code>/);
});

test('rates skip the ledger while it cannot be read and resume from the last reading', () => {
  const r = rates(sampleDrillResult().timeline.samples);
  assert.ok(
    r.some((s) => s.committed === null),
    'a gap while the ledger was down',
  );
  assert.ok(r.every((s) => s.committed === null || s.committed >= 0));
  assert.equal(r.find((s) => s.errors > 0)?.errors, 3);
});

test('fault windows pair inject with heal; a window never healed runs to the end', () => {
  const windows = faultWindows(
    [
      { atMs: 5, scenario: 'a', event: 'inject', detail: 'x' },
      { atMs: 9, scenario: 'a', event: 'heal', detail: '' },
      { atMs: 7, scenario: 'b', event: 'inject', detail: 'y' },
    ],
    20,
  );
  assert.deepEqual(windows, [
    { scenario: 'a', from: 5, to: 9, detail: 'x' },
    { scenario: 'b', from: 7, to: 20, detail: 'y' },
  ]);
});

test('a recovery slower than the SLO, or none at all, fails the scenario', () => {
  const base = sampleDrillResult().scenarios['primary-kill']!;
  assert.equal(withinSlo(base, 300).verdict, 'pass');
  const slow = withinSlo(base, 4);
  assert.equal(slow.verdict, 'fail');
  assert.match(slow.violations.join(), /recovery SLO breached: recovered in 4\.2s, SLO 4s/);
  const never = withinSlo({ ...base, recoveryMs: null }, 300);
  assert.equal(never.verdict, 'fail');
  assert.match(never.violations.join(), /never recovered/);
  const none = { ...base, recoveryMs: undefined };
  assert.equal(withinSlo(none, 0.001).verdict, 'pass', 'no recovery to measure, nothing to breach');
});

test('writeReports writes the journal, the summary and the report into one directory per run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-reports-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const result = sampleDrillResult();
  const files = await writeReports(result, dir, new Date('2026-11-22T10:11:12.345Z'));
  assert.equal(files.dir, join(dir, 'drill-2026-11-22T101112Z-seed-seed-1'));
  assert.deepEqual((await readdir(files.dir)).sort(), ['journal.json', 'report.html', 'summary.md']);
  const journal = JSON.parse(await readFile(files.journal, 'utf8')) as typeof result;
  assert.equal(journal.seed, 'seed-1');
  assert.equal(journal.timeline.marks.length, 4);
  const md = await readFile(files.markdown, 'utf8');
  assert.match(md, /^# Firebreak drill — PASS/);
  assert.match(md, /\| primary-kill \| PASS \| 4\.2s \|/);
  assert.equal(md, formatMarkdownSummary(result, files));
});

async function receiver() {
  const received: { path: string; body: Record<string, unknown> }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { received, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

test('a failed drill pages in PagerDuty Events v2 form, naming the failed scenario and the report', async (t) => {
  const r = await receiver();
  t.after(r.close);
  const failed = sampleDrillResult({
    verdict: 'fail',
    violations: ['primary-kill: recovery SLO breached: recovered in 4.2s, SLO 1s'],
    scenarios: {
      'primary-kill': { ...sampleDrillResult().scenarios['primary-kill']!, verdict: 'fail' },
    },
  });
  const line = await sendPage(failed, {
    url: `${r.url}/v2/enqueue`,
    routingKey: 'R0UTING-KEY-SECRET',
    reportPath: '/tmp/x/report.html',
  });
  assert.match(line, /^paged 127\.0\.0\.1:\d+/);
  assert.doesNotMatch(line, /R0UTING/);
  assert.equal(r.received.length, 1);
  const page = r.received[0]!;
  assert.equal(page.path, '/v2/enqueue');
  assert.equal(page.body.routing_key, 'R0UTING-KEY-SECRET');
  assert.equal(page.body.event_action, 'trigger');
  assert.equal(page.body.dedup_key, 'firebreak-drill:seed-1:primary-kill');
  const payload = page.body.payload as Record<string, unknown>;
  assert.equal(payload.severity, 'critical');
  assert.equal(payload.source, 'firebreak drill');
  assert.match(String(payload.summary), /FAIL \(seed seed-1\): scenarios failed: primary-kill/);
  assert.equal((payload.custom_details as Record<string, unknown>).report, '/tmp/x/report.html');
  assert.deepEqual(page.body.links, [{ href: 'file:///tmp/x/report.html', text: 'Drill report' }]);

  await sendNotification(failed, `${r.url}/chat`, '/tmp/x/report.html');
  assert.equal(r.received[1]?.path, '/chat');
  assert.match(
    String(r.received[1]?.body.text),
    /^Firebreak drill FAIL .*\nReport: \/tmp\/x\/report\.html$/s,
  );
});

test('a receiver that refuses the page is an error the CLI reports, not a silent success', async (t) => {
  const { createServer: create } = await import('node:http');
  const server = create((_req, res) => res.writeHead(400).end('{"status":"invalid event"}'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v2/enqueue`;
  await assert.rejects(
    sendPage(sampleDrillResult({ verdict: 'fail' }), { url, routingKey: 'k' }),
    /answered 400/,
  );
  assert.equal(pagerDutyEvent(sampleDrillResult(), 'k').event_action, 'trigger');
});
