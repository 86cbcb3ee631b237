// The checkout bench's result: one object (printed with --json) and the
// readable table made from it.

import { isContended, type CpuUsage } from './cpuAccounting.ts';
import type { PgbenchResult } from './pgbenchBaseline.ts';
import type { SettleResult } from './settlePhase.ts';
import type { StatementStats } from './statementStats.ts';

/** The issue's targets. */
export const TARGETS = {
  acceptRatePerSec: 1_000,
  acceptP99Ms: 10,
  settledToPgbenchRatio: 0.5,
} as const;

/** An offered rate counts as held when at least this share of it was accepted per second. */
export const RATE_HELD_SHARE = 0.98;

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface AcceptFigures {
  readonly targetRate: number;
  readonly durationSec: number;
  readonly lanes: number;
  readonly connectionsPerLane: number;
  readonly sent: number;
  readonly accepted202: number;
  readonly acceptedPerSec: number;
  readonly non202: number;
  readonly statusCounts: Readonly<Record<string, number>>;
  readonly connectionErrors: number;
  readonly timeouts: number;
  readonly latencyMs: LatencySummary;
  /** Queue database transactions committed per accepted checkout (pg_stat_database.xact_commit). */
  readonly queueCommitsPerAccept: number | null;
  readonly cpu: CpuUsage;
}

export interface BenchResult {
  readonly machine: {
    readonly cores: number;
    /** Busy share of all cores in the two seconds before the bench started anything. */
    readonly busyBeforeStart: number;
    readonly memoryGiB: number;
    readonly cpuModel: string;
    readonly kernel: string;
    readonly node: string;
    readonly postgres: string;
    readonly pgbench: string | null;
  };
  readonly settings: Readonly<Record<string, string | number | boolean>>;
  readonly accept: AcceptFigures;
  /** Messages in the queue when the worker started: the N of the settle phase (warm-up included). */
  readonly queued: number;
  readonly settle: (SettleResult & { readonly cpu: CpuUsage }) | null;
  readonly pgbench: (PgbenchResult & { readonly cpu?: CpuUsage }) | null;
  /** With --statements: SQL run per phase, from pg_stat_statements. */
  readonly statements: {
    readonly accept: StatementStats;
    readonly settleQueue: StatementStats | null;
    readonly settleLedger: StatementStats | null;
  } | null;
  readonly verdicts: {
    readonly acceptRateHeld: boolean;
    readonly acceptAllAccepted: boolean;
    readonly acceptP99Met: boolean;
    readonly acceptTargetMet: boolean;
    readonly settledToPgbench: number | null;
    readonly settleRatioMet: boolean | null;
  };
}

export function summarise(values: Float64Array): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

export function verdictsOf(
  accept: AcceptFigures,
  settle: SettleResult | null,
  pgbench: PgbenchResult | null,
): BenchResult['verdicts'] {
  const acceptRateHeld = accept.acceptedPerSec >= RATE_HELD_SHARE * accept.targetRate;
  const acceptAllAccepted = accept.non202 === 0 && accept.connectionErrors === 0;
  const acceptP99Met = accept.latencyMs.count > 0 && accept.latencyMs.p99 < TARGETS.acceptP99Ms;
  const ratio =
    settle?.complete && pgbench?.ran && pgbench.tps > 0 ? settle.settledPerSecWall / pgbench.tps : null;
  return {
    acceptRateHeld,
    acceptAllAccepted,
    acceptP99Met,
    acceptTargetMet: acceptRateHeld && acceptAllAccepted && acceptP99Met,
    settledToPgbench: ratio,
    settleRatioMet: ratio === null ? null : ratio >= TARGETS.settledToPgbenchRatio,
  };
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const perSec = (v: number) => `${v.toFixed(0)}/s`;
const yesNo = (v: boolean) => (v ? 'MET' : 'MISSED');

function cpuLines(cpu: CpuUsage, per: number, unit: string): [string, string][] {
  const rows: [string, string][] = [
    [
      'machine busy',
      `${(cpu.machineBusy * 100).toFixed(0)}% of ${cpu.cores} cores over ${cpu.wallSec.toFixed(1)} s`,
    ],
  ];
  const entries = Object.entries(cpu.seconds).sort((a, b) => b[1] - a[1]);
  entries.push(['(interrupts, softirq)', cpu.irqSec]);
  // Busy time no process of ours accounts for. A large figure means the run was not alone.
  entries.push([
    isContended(cpu) ? '(OTHER PROCESSES: contended, rerun)' : '(other processes)',
    cpu.otherSec,
  ]);
  for (const [name, seconds] of entries) {
    if (seconds < 0.005 && !name.includes('other processes')) continue;
    const perItem = per > 0 ? `, ${((seconds / per) * 1e6).toFixed(0)} µs/${unit}` : '';
    rows.push([
      `  cpu ${name}`,
      `${seconds.toFixed(2)} s (${((seconds / cpu.wallSec) * 100).toFixed(0)}% of one core${perItem})`,
    ]);
  }
  return rows;
}

function table(title: string, rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  return [title, ...lines].join('\n');
}

function statementsTable(title: string, stats: StatementStats, per: number): string {
  if (per === 0) return `${title}: nothing to divide by`;
  const lines = [
    `${title}: ${(stats.calls / per).toFixed(1)} statements, ${((stats.totalMs / per) * 1000).toFixed(0)} µs of execution per checkout, plus ${((stats.planMs / per) * 1000).toFixed(0)} µs planning`,
    '    calls/co  mean µs  share  statement',
  ];
  for (const row of stats.top) {
    const query = row.query.length > 90 ? `${row.query.slice(0, 87)}...` : row.query;
    lines.push(
      `    ${(row.calls / per).toFixed(2).padStart(8)}  ${(row.meanMs * 1000).toFixed(0).padStart(7)}  ${`${((row.totalMs / stats.totalMs) * 100).toFixed(0)}%`.padStart(5)}  ${query}`,
    );
  }
  return lines.join('\n');
}

export function formatBenchResult(r: BenchResult): string {
  const m = r.machine;
  const a = r.accept;
  const v = r.verdicts;
  const out: string[] = [];
  out.push(
    table(
      'Machine (everything below shares these cores: Postgres x2, API, worker, provider, load generator)',
      [
        ['cores', String(m.cores)],
        [
          'busy before start',
          `${(m.busyBeforeStart * 100).toFixed(0)}%${m.busyBeforeStart > 0.1 ? ' (NOT IDLE: something else was running)' : ''}`,
        ],
        ['memory', `${m.memoryGiB.toFixed(1)} GiB`],
        ['cpu', m.cpuModel],
        ['node / postgres', `${m.node} / ${m.postgres}`],
        ['pgbench', m.pgbench ?? 'not installed'],
      ],
    ),
  );
  const statuses = Object.entries(a.statusCounts)
    .map(([code, n]) => `${code}: ${n}`)
    .join(', ');
  out.push(
    table(
      `1. Accept: POST /v1/checkouts at ${a.targetRate} req/s for ${a.durationSec} s (${a.lanes} autocannon lanes x ${a.connectionsPerLane} connections; worker stopped)`,
      [
        ['sent', String(a.sent)],
        ['accepted (202)', `${a.accepted202} = ${perSec(a.acceptedPerSec)}`],
        ['non-202 responses', `${a.non202}${statuses ? ` (${statuses})` : ''}`],
        ['connection errors', `${a.connectionErrors} (timeouts ${a.timeouts})`],
        ['latency p50', ms(a.latencyMs.p50)],
        ['latency p90', ms(a.latencyMs.p90)],
        ['latency p99', ms(a.latencyMs.p99)],
        ['latency p99.9', ms(a.latencyMs.p999)],
        ['latency max', ms(a.latencyMs.max)],
        ['latency mean', ms(a.latencyMs.mean)],
        [
          'queue commits/accept',
          a.queueCommitsPerAccept === null ? 'n/a' : a.queueCommitsPerAccept.toFixed(2),
        ],
        ...cpuLines(a.cpu, a.accepted202, 'accept'),
        [
          `target p99 < ${TARGETS.acceptP99Ms} ms at ${a.targetRate}/s`,
          `${yesNo(v.acceptTargetMet)} (rate held: ${v.acceptRateHeld ? 'yes' : 'no'}, all 202: ${v.acceptAllAccepted ? 'yes' : 'no'}, p99: ${ms(a.latencyMs.p99)})`,
        ],
      ],
    ),
  );
  const s = r.settle;
  out.push(
    s === null
      ? '2. Settle: not run'
      : table(`2. Settle: worker drains the ${r.queued} queued checkouts (provider: no faults, no latency)`, [
          ['settled', `${s.settled}/${s.expected}${s.complete ? '' : ' (INCOMPLETE: deadline reached)'}`],
          ['charged / declined', `${s.charged} / ${s.declined}`],
          ['wall clock', `${s.wallSec.toFixed(1)} s -> ${perSec(s.settledPerSecWall)}`],
          ['ledger commit span', `${s.commitSpanSec.toFixed(1)} s -> ${perSec(s.settledPerSecLedger)}`],
          ...cpuLines(s.cpu, s.settled, 'checkout'),
        ]),
  );
  const p = r.pgbench;
  const pgRows: [string, string][] =
    p === null
      ? [['pgbench', 'skipped (--no-pgbench)']]
      : p.ran
        ? [
            ['command', p.command],
            ['tps', p.tps.toFixed(0)],
            ['latency average', p.latencyAvgMs === null ? 'n/a' : ms(p.latencyAvgMs)],
            ...(p.cpu ? cpuLines(p.cpu, 0, '') : []),
          ]
        : [['pgbench', `skipped: ${p.reason}`]];
  pgRows.push([
    `settled/pgbench (target >= ${TARGETS.settledToPgbenchRatio})`,
    v.settledToPgbench === null
      ? 'n/a'
      : `${v.settledToPgbench.toFixed(2)} ${yesNo(v.settleRatioMet === true)}`,
  ]);
  out.push(table('3. Baseline: pgbench TPC-B (built-in script) on a fresh embedded Postgres server', pgRows));
  if (r.statements) {
    const st = r.statements;
    out.push(
      statementsTable(
        'SQL per accepted checkout, queue database (pg_stat_statements)',
        st.accept,
        a.accepted202,
      ),
    );
    const settled = r.settle?.settled ?? 0;
    if (st.settleQueue)
      out.push(statementsTable('SQL per settled checkout, queue database', st.settleQueue, settled));
    if (st.settleLedger)
      out.push(statementsTable('SQL per settled checkout, ledger database', st.settleLedger, settled));
  }
  return `${out.join('\n\n')}\n`;
}
