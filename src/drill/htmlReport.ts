// The drill's HTML report: one self-contained file (inline CSS and SVG, no
// scripts, no fonts, no network) that opens from disk. Hand-written rather
// than a charting library because every charting library we could use either
// needs a browser runtime (scripts) or a network fetch, and this chart is one
// SVG: throughput and client errors over time, fault windows shaded, recovery
// marked.

import type { DrillResult } from './runDrill.ts';
import type { TimelineMark, TimelineSample } from './journal.ts';

const W = 960;
const H = 280;
const PAD = { left: 56, right: 16, top: 16, bottom: 36 };

function esc(text: unknown): string {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

interface Rate {
  readonly atMs: number;
  readonly accepted: number;
  readonly committed: number | null;
  readonly errors: number;
}

/** Per-second rates between consecutive samples. */
export function rates(samples: readonly TimelineSample[]): Rate[] {
  const out: Rate[] = [];
  let lastCommitted: { atMs: number; n: number } | undefined;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = (b.atMs - a.atMs) / 1000;
    if (dt <= 0) continue;
    let committed: number | null = null;
    if (b.committed !== null) {
      const from = a.committed !== null ? { atMs: a.atMs, n: a.committed } : lastCommitted;
      if (from) committed = Math.max(0, (b.committed - from.n) / ((b.atMs - from.atMs) / 1000));
      lastCommitted = { atMs: b.atMs, n: b.committed };
    }
    out.push({
      atMs: b.atMs,
      accepted: Math.max(0, (b.accepted - a.accepted) / dt),
      committed,
      errors: Math.max(0, b.clientErrors - a.clientErrors),
    });
  }
  return out;
}

/** Fault windows: each scenario's inject paired with its next heal (open windows end at the chart's edge). */
export function faultWindows(
  marks: readonly TimelineMark[],
  endMs: number,
): { scenario: string; from: number; to: number; detail: string }[] {
  const open = new Map<string, TimelineMark>();
  const windows: { scenario: string; from: number; to: number; detail: string }[] = [];
  for (const m of marks) {
    if (m.scenario === null) continue;
    if (m.event === 'inject') open.set(m.scenario, m);
    if (m.event === 'heal') {
      const start = open.get(m.scenario);
      if (start) windows.push({ scenario: m.scenario, from: start.atMs, to: m.atMs, detail: start.detail });
      open.delete(m.scenario);
    }
  }
  for (const [scenario, start] of open)
    windows.push({ scenario, from: start.atMs, to: endMs, detail: start.detail });
  return windows;
}

function niceMax(v: number): number {
  if (v <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function timelineSvg(r: DrillResult): string {
  const { samples, marks } = r.timeline;
  if (samples.length < 2) return '<p class="muted">Too short a run to chart.</p>';
  const series = rates(samples);
  const t0 = samples[0]!.atMs;
  const t1 = samples.at(-1)!.atMs;
  const span = Math.max(1, t1 - t0);
  const yMax = niceMax(Math.max(...series.map((s) => Math.max(s.accepted, s.committed ?? 0)), 1));
  const eMax = niceMax(Math.max(...series.map((s) => s.errors), 1));
  const x = (ms: number) => PAD.left + ((ms - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const yE = (v: number) => H - PAD.bottom - (v / eMax) * ((H - PAD.top - PAD.bottom) / 3);
  const path = (pick: (s: Rate) => number | null) => {
    let d = '';
    let pen = false;
    for (const s of series) {
      const v = pick(s);
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(s.atMs).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    return d;
  };
  const parts: string[] = [];
  for (const w of faultWindows(marks, t1)) {
    const from = Math.max(t0, w.from);
    parts.push(
      `<rect class="fault" x="${x(from).toFixed(1)}" y="${PAD.top}" width="${Math.max(2, x(w.to) - x(from)).toFixed(1)}" height="${H - PAD.top - PAD.bottom}"><title>${esc(w.scenario)}: ${esc(w.detail)} (${((w.to - w.from) / 1000).toFixed(1)}s)</title></rect>`,
      `<text class="fault-label" x="${(x(from) + 3).toFixed(1)}" y="${PAD.top + 12}">${esc(w.scenario)}</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(
      `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`,
      `<text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v)}</text>`,
    );
  }
  const tickEvery = niceMax(span / 1000 / 8);
  for (let s = Math.ceil(t0 / 1000 / tickEvery) * tickEvery; s * 1000 <= t1; s += tickEvery) {
    parts.push(
      `<text class="axis" x="${x(s * 1000).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${s}s</text>`,
    );
  }
  for (const s of series) {
    if (s.errors === 0) continue;
    parts.push(
      `<rect class="errors" x="${(x(s.atMs) - 2).toFixed(1)}" y="${yE(s.errors).toFixed(1)}" width="4" height="${(H - PAD.bottom - yE(s.errors)).toFixed(1)}"><title>${s.errors} client-visible errors</title></rect>`,
    );
  }
  parts.push(`<path class="accepted" d="${path((s) => s.accepted)}"/>`);
  parts.push(`<path class="committed" d="${path((s) => s.committed)}"/>`);
  for (const m of marks) {
    if (m.event !== 'recovered' && m.event !== 'phase') continue;
    if (m.atMs < t0 || m.atMs > t1) continue;
    const cls = m.event === 'recovered' ? 'recovered' : 'phase';
    parts.push(
      `<line class="${cls}" x1="${x(m.atMs).toFixed(1)}" x2="${x(m.atMs).toFixed(1)}" y1="${PAD.top}" y2="${H - PAD.bottom}"><title>${esc(m.scenario ?? 'drill')}: ${esc(m.detail)} at ${(m.atMs / 1000).toFixed(1)}s</title></line>`,
    );
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="throughput and errors over time">
${parts.join('\n')}
<text class="axis" x="12" y="${PAD.top + 4}" transform="rotate(-90 12 ${PAD.top + 4})" text-anchor="end">checkouts/s</text>
</svg>
<p class="legend"><span class="k accepted"></span> accepted/s (API) <span class="k committed"></span> committed/s (ledger) <span class="k errors"></span> client-visible errors <span class="k fault"></span> fault window <span class="k recovered"></span> recovered <span class="k phase"></span> drill phase</p>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem} h2{font-size:1.1rem;margin:2rem 0 .5rem;border-bottom:1px solid #e3e7ee;padding-bottom:.25rem}
.muted{color:#66707f} .verdict{display:inline-block;padding:.15rem .6rem;border-radius:4px;font-weight:600;color:#fff}
.pass{background:#1f8a4c} .fail{background:#c0392b}
table{border-collapse:collapse;width:100%} td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eef1f5;vertical-align:top}
th{font-weight:600;color:#445} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1f8a4c;font-weight:600} .bad{color:#c0392b;font-weight:600}
svg .grid{stroke:#eef1f5} svg .axis{font-size:11px;fill:#66707f}
svg .accepted{fill:none;stroke:#3b6fd6;stroke-width:1.6} svg .committed{fill:none;stroke:#1f8a4c;stroke-width:1.6}
svg .errors{fill:#c0392b} svg .fault{fill:#f5a623;fill-opacity:.18} svg .fault-label{font-size:11px;fill:#a86b00}
svg .recovered{stroke:#1f8a4c;stroke-width:2;stroke-dasharray:4 3} svg .phase{stroke:#9aa3b2;stroke-dasharray:2 4}
.legend{font-size:12px;color:#445} .k{display:inline-block;width:14px;height:4px;margin:0 .3rem 2px 1rem;vertical-align:middle}
.k.accepted{background:#3b6fd6} .k.committed{background:#1f8a4c} .k.errors{background:#c0392b;height:10px;width:5px}
.k.fault{background:#f5a623;opacity:.4;height:10px} .k.recovered{border-top:2px dashed #1f8a4c;height:0} .k.phase{border-top:2px dotted #9aa3b2;height:0}
code{background:#f3f5f8;padding:0 .25rem;border-radius:3px}
`;

function row(label: string, ok: boolean, text: string): string {
  return `<tr><td class="${ok ? 'ok' : 'bad'}">${ok ? 'ok' : 'FAIL'}</td><th>${esc(label)}</th><td>${esc(text)}</td></tr>`;
}

export function formatHtmlReport(r: DrillResult, generatedAt = new Date()): string {
  const scenarios = Object.entries(r.scenarios);
  const invariants = [
    row('no loss', r.lost === 0, `${r.lost} accepted checkouts without a terminal state`),
    row(
      'no double charge',
      r.doubleCharged === 0 && r.unbookedCaptures === 0,
      `${r.doubleCharged} double, ${r.unbookedCaptures} captures not booked`,
    ),
    row(
      'cent-exact',
      r.driftCents === 0 && r.unbalancedTransactions === 0,
      `drift ${r.driftCents} cents, ${r.unbalancedTransactions} unbalanced journal transactions`,
    ),
    row('per-creator order', r.outOfOrder === 0, `${r.outOfOrder} commits out of acceptance order`),
    row(
      'events',
      r.eventsMissing + r.eventsDuplicated + r.eventsForUncommitted + r.eventsOutOfOrder === 0,
      `${r.events.committed} committed, ${r.events.distinct} distinct on ${r.eventBus}; ${r.eventsMissing} missing, ${r.eventsForUncommitted} unexpected, ${r.eventsOutOfOrder} out of order`,
    ),
    row(
      'renewals',
      r.renewals.periodsBilledTwice +
        r.renewals.wrongAmount +
        r.renewals.dueUnbilled +
        r.renewals.inFlight ===
        0,
      `${r.renewals.charged} renewals charged, ${r.renewals.periodsBilledTwice} periods billed twice, ${r.renewals.dueUnbilled} due and unbilled`,
    ),
  ].join('\n');
  const scenarioRows = scenarios
    .map(([name, s]) => {
      const recovery =
        s.recoveryMs === undefined
          ? '—'
          : s.recoveryMs === null
            ? 'never'
            : `${(s.recoveryMs / 1000).toFixed(1)}s`;
      const figures = Object.entries(s.measurements)
        .map(([k, v]) => `${esc(k)} <b>${esc(v)}</b>`)
        .join(', ');
      return `<tr><td class="${s.verdict === 'pass' ? 'ok' : 'bad'}">${s.verdict === 'pass' ? 'ok' : 'FAIL'}</td><th>${esc(name)}</th><td>${esc(s.summary)}<br><span class="muted">${figures}</span></td><td class="num">${recovery}</td></tr>`;
    })
    .join('\n');
  const violations =
    r.violations.length === 0
      ? '<p class="muted">None.</p>'
      : `<ul>${r.violations
          .slice(0, 200)
          .map((v) => `<li>${esc(v)}</li>`)
          .join(
            '',
          )}</ul>${r.violations.length > 200 ? `<p class="muted">… and ${r.violations.length - 200} more in journal.json</p>` : ''}`;
  const marks = r.timeline.marks
    .map(
      (m) =>
        `<tr><td class="num">${(m.atMs / 1000).toFixed(1)}s</td><td>${esc(m.scenario ?? 'drill')}</td><td>${esc(m.event)}</td><td>${esc(m.detail)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Firebreak drill — seed ${esc(r.seed)} — ${r.verdict.toUpperCase()}</title>
<style>${CSS}</style></head>
<body>
<h1>Firebreak drill <span class="verdict ${r.verdict}">${r.verdict.toUpperCase()}</span></h1>
<p class="muted">seed <code>${esc(r.seed)}</code> · ${esc(r.mode)} stack · ledger failover mode <code>${esc(r.failoverMode)}</code> · node ${esc(r.versions.node)} · postgres ${esc(r.versions.postgres)} · recovery SLO ${r.recoverySloSec}s · generated ${esc(generatedAt.toISOString())}</p>

<h2>Timeline</h2>
${timelineSvg(r)}

<h2>Scenarios</h2>
${scenarios.length === 0 ? '<p class="muted">No fault scenarios in this run (the plain drill). Add <code>--scenario all</code>.</p>' : `<table><tr><th></th><th>scenario</th><th>what happened</th><th>recovery</th></tr>${scenarioRows}</table>`}

<h2>Invariants</h2>
<p class="muted">Audited after the run from the ledger, the queue, the provider's record and the event bus directly — never by asking a service.</p>
<table>${invariants}</table>

<h2>Traffic</h2>
<table>
<tr><th>accepted</th><td class="num">${r.accepted}</td><th>charged</th><td class="num">${r.charged}</td><th>declined</th><td class="num">${r.declined}</td><th>dead-lettered</th><td class="num">${r.deadLettered}</td></tr>
<tr><th>not accepted</th><td class="num">${r.rejected}</td><th>client-visible errors</th><td class="num">${r.clientVisibleErrors}</td><th>client retries</th><td class="num">${r.clientRetries}</td><th>redeliveries</th><td class="num">${r.redeliveries}</td></tr>
<tr><th>accept p50</th><td class="num">${r.acceptLatencyMs.p50} ms</td><th>accept p99</th><td class="num">${r.acceptLatencyMs.p99} ms</td><th>accepted/s</th><td class="num">${r.throughput.acceptedPerSec}</td><th>settled/s</th><td class="num">${r.throughput.settledPerSec}</td></tr>
</table>

<h2>Violations</h2>
${violations}

<h2>Journal</h2>
<table><tr><th>time</th><th>who</th><th>event</th><th>detail</th></tr>${marks}</table>
</body></html>
`;
}
