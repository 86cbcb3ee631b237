// After a drill: write the run's files (journal.json, summary.md,
// report.html) and tell people. A page (PagerDuty Events v2) goes out when
// the verdict is fail — an invariant broken or a recovery SLO breached; a
// chat notification goes out on every run when a notify URL is set. The
// routing key is a secret: it is sent, never printed or written to the report.

import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatHtmlReport } from './htmlReport.ts';
import { drillResultJson } from './report.ts';
import type { DrillResult } from './runDrill.ts';

export interface ReportFiles {
  readonly dir: string;
  readonly journal: string;
  readonly markdown: string;
  readonly html: string;
}

/** The directory name for one run: sortable by time, with the seed. */
export function reportDirName(r: DrillResult, at = new Date()): string {
  const stamp = at
    .toISOString()
    .replaceAll(':', '')
    .replace(/\.\d+Z$/, 'Z');
  const seed = r.seed.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `drill-${stamp}-seed-${seed}`;
}

export function formatMarkdownSummary(r: DrillResult, files?: ReportFiles): string {
  const scenarios = Object.entries(r.scenarios);
  const lines = [
    `# Firebreak drill — ${r.verdict.toUpperCase()}`,
    '',
    `Seed \`${r.seed}\`, ${r.mode} stack, ledger failover mode \`${r.failoverMode}\`, node ${r.versions.node}, postgres ${r.versions.postgres}, recovery SLO ${r.recoverySloSec}s.`,
    '',
    `- **Traffic:** ${r.accepted} accepted (${r.rejected} not accepted, ${r.clientVisibleErrors} client-visible errors); ${r.charged} charged, ${r.declined} declined, ${r.deadLettered} dead-lettered.`,
    `- **Invariants:** ${r.lost} lost, ${r.doubleCharged} double-charged, drift ${r.driftCents} cents, ${r.outOfOrder} out of order, ${r.eventsMissing} events missing, ${r.renewals.periodsBilledTwice} renewal periods billed twice.`,
    `- **Performance:** accept p50 ${r.acceptLatencyMs.p50} ms, p99 ${r.acceptLatencyMs.p99} ms; ${r.throughput.acceptedPerSec} accepted/s, ${r.throughput.settledPerSec} settled/s; total ${(r.durationsMs.total / 1000).toFixed(1)}s.`,
  ];
  if (scenarios.length > 0) {
    lines.push('', '| scenario | verdict | recovery | what happened |', '| --- | --- | --- | --- |');
    for (const [name, s] of scenarios) {
      const recovery =
        s.recoveryMs === undefined
          ? '—'
          : s.recoveryMs === null
            ? 'never'
            : `${(s.recoveryMs / 1000).toFixed(1)}s`;
      lines.push(
        `| ${name} | ${s.verdict.toUpperCase()} | ${recovery} | ${s.summary.replaceAll('|', '\\|')} |`,
      );
    }
  }
  if (r.violations.length > 0) {
    lines.push('', `## Violations (${r.violations.length})`, '');
    for (const v of r.violations.slice(0, 50)) lines.push(`- ${v}`);
    if (r.violations.length > 50) lines.push(`- … and ${r.violations.length - 50} more (journal.json)`);
  }
  if (files) lines.push('', `Report: ${files.html}`, `Journal: ${files.journal}`);
  return `${lines.join('\n')}\n`;
}

export async function writeReports(r: DrillResult, parentDir: string, at = new Date()): Promise<ReportFiles> {
  const dir = resolve(parentDir, reportDirName(r, at));
  await mkdir(dir, { recursive: true });
  const files: ReportFiles = {
    dir,
    journal: join(dir, 'journal.json'),
    markdown: join(dir, 'summary.md'),
    html: join(dir, 'report.html'),
  };
  await writeFile(files.journal, `${drillResultJson(r)}\n`);
  await writeFile(files.markdown, formatMarkdownSummary(r, files));
  await writeFile(files.html, formatHtmlReport(r, at));
  return files;
}

/** One line for a page or a chat message. */
export function oneLineSummary(r: DrillResult): string {
  const failed = Object.entries(r.scenarios)
    .filter(([, s]) => s.verdict === 'fail')
    .map(([name]) => name);
  const head = `Firebreak drill ${r.verdict.toUpperCase()} (seed ${r.seed})`;
  if (r.verdict === 'pass')
    return `${head}: ${r.accepted} checkouts, ${Object.keys(r.scenarios).length} scenarios, every invariant held`;
  const why = [
    ...(failed.length > 0 ? [`scenarios failed: ${failed.join(', ')}`] : []),
    `${r.violations.length} violations`,
    r.violations[0] ? `first: ${r.violations[0]}` : '',
  ].filter(Boolean);
  return `${head}: ${why.join('; ')}`.slice(0, 1000);
}

export interface PageOptions {
  readonly url: string;
  /** PagerDuty integration (routing) key; a secret. */
  readonly routingKey: string;
  readonly reportPath?: string;
  readonly timeoutMs?: number;
}

/** The PagerDuty Events API v2 "trigger" body for a failed drill. */
export function pagerDutyEvent(
  r: DrillResult,
  routingKey: string,
  reportPath?: string,
): Record<string, unknown> {
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    // One incident per seed and failure shape: a re-run that fails the same way does not page twice.
    dedup_key: `firebreak-drill:${r.seed}:${Object.entries(r.scenarios)
      .filter(([, s]) => s.verdict === 'fail')
      .map(([n]) => n)
      .join(',')}`,
    payload: {
      summary: oneLineSummary(r),
      source: 'firebreak drill',
      severity: 'critical',
      component: 'checkout',
      group: 'staging',
      class: 'drill',
      timestamp: new Date().toISOString(),
      custom_details: {
        seed: r.seed,
        verdict: r.verdict,
        recoverySloSec: r.recoverySloSec,
        failoverMode: r.failoverMode,
        violations: r.violations.slice(0, 20),
        scenarios: Object.fromEntries(
          Object.entries(r.scenarios).map(([n, s]) => [
            n,
            { verdict: s.verdict, recoveryMs: s.recoveryMs ?? null },
          ]),
        ),
        report: reportPath ?? null,
      },
    },
    ...(reportPath ? { links: [{ href: `file://${reportPath}`, text: 'Drill report' }] } : {}),
  };
}

async function post(url: string, body: unknown, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`${new URL(url).host} answered ${res.status}`);
}

/** Sends the page; resolves to a line for the report (never including the routing key). */
export async function sendPage(r: DrillResult, o: PageOptions): Promise<string> {
  await post(o.url, pagerDutyEvent(r, o.routingKey, o.reportPath), o.timeoutMs ?? 10_000);
  return `paged ${new URL(o.url).host} (PagerDuty Events v2)`;
}

/** Posts the one-line summary to a chat webhook (Slack-compatible `{ text }`). */
export async function sendNotification(
  r: DrillResult,
  url: string,
  reportPath?: string,
  timeoutMs = 10_000,
): Promise<string> {
  const text = reportPath ? `${oneLineSummary(r)}\nReport: ${reportPath}` : oneLineSummary(r);
  await post(url, { text }, timeoutMs);
  return `notified ${new URL(url).host}`;
}
