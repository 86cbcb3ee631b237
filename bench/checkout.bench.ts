// The checkout bench, in one run on this machine (docs/performance.md):
//
//   npm run bench -- [--duration 15] [--rate 1000] [--json] ...   (--help lists every flag)
//
// 1. Accept: the queue and ledger Postgres servers, the provider and the API
//    come up (no worker); after a warm-up, autocannon sends POST /v1/checkouts
//    at a fixed rate, each request a new checkout. Accepted/s, non-202s and
//    the latency of every 202.
// 2. Settle: the worker starts on the N checkouts now queued and the ledger is
//    polled until it holds all of them. Settled checkouts/s.
// 3. Baseline: pgbench's built-in TPC-B script on a fresh Postgres server, and
//    the ratio settled/s : pgbench tps.
// Every process and directory is removed at the end, on an error, and on
// Ctrl-C (a second Ctrl-C exits at once).

import { cpus, release, totalmem } from 'node:os';
import pg from 'pg';
import { makeDrillCatalog } from '../src/drill/drillCatalog.ts';
import type { PostgresServer } from '../src/stack/postgresServer.ts';
import { SeededRandom } from '../src/util/seededRandom.ts';
import { runAcceptLoad } from './checkout/acceptLoad.ts';
import { HELP, parseBenchOptions, UsageError, type BenchOptions } from './checkout/benchOptions.ts';
import { BenchStack } from './checkout/benchStack.ts';
import {
  formatBenchResult,
  summarise,
  verdictsOf,
  type AcceptFigures,
  type BenchResult,
} from './checkout/benchReport.ts';
import { CheckoutRequests } from './checkout/checkoutRequests.ts';
import {
  cpuBetween,
  sampleCpu,
  type CpuSample,
  type CpuSubject,
  type CpuUsage,
} from './checkout/cpuAccounting.ts';
import { pgbenchVersion, runPgbench, type PgbenchResult } from './checkout/pgbenchBaseline.ts';
import { runSettlePhase } from './checkout/settlePhase.ts';
import { readStatementStats, resetStatementStats, type StatementStats } from './checkout/statementStats.ts';

let parsed: BenchOptions | null;
try {
  parsed = parseBenchOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`${err.message}\n(npm run bench -- --help lists the flags)\n`);
  process.exit(2);
}
if (parsed === null) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const o = parsed;

/** How long the machine is watched before the run, and the busy share that earns a warning. */
const IDLE_PROBE_MS = 2_000;
const BUSY_WARNING = 0.1;
/** Linux's kernel thread parent. */
const KTHREADD_PID = 2;

const t0 = performance.now();
const say = (line: string) =>
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);

// Everything that must not outlive the bench, torn down once, by whoever gets there first.
const abort = new AbortController();
let stack: BenchStack | undefined;
let pgbenchServer: PostgresServer | undefined;
let cleaning: Promise<void> | undefined;
let pgbenchPhase: Promise<PgbenchResult> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await stack?.stop();
    // An interrupted pgbench phase kills pgbench and removes its own server; wait for that.
    await pgbenchPhase?.catch(() => {});
    await pgbenchServer?.destroy();
  })());

let interrupted = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (++interrupted > 1) {
    process.stderr.write('second interrupt: exiting without waiting for clean-up\n');
    process.exit(130);
  }
  say(`${signal}: stopping every process and removing the work directories (Ctrl-C again to force)`);
  abort.abort();
  void cleanup().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function scalar(url: string, sql: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ v: string }>(sql);
    return String(result.rows[0]?.v ?? '');
  } finally {
    await client.end();
  }
}

/** Busy share of the machine over IDLE_PROBE_MS, re-probed while above BUSY_WARNING until --wait-idle runs out. */
async function waitForQuietMachine(cores: number): Promise<number> {
  const deadline = performance.now() + o.waitIdleSec * 1000;
  for (;;) {
    const before = sampleCpu([]);
    await new Promise((resolve) => setTimeout(resolve, IDLE_PROBE_MS));
    const busy = cpuBetween(before, sampleCpu([]), cores).machineBusy;
    if (busy <= BUSY_WARNING || performance.now() >= deadline || abort.signal.aborted) return busy;
    say(`waiting for the machine to go quiet: ${(busy * 100).toFixed(0)}% busy`);
  }
}

async function preflight(apiUrl: string, requests: CheckoutRequests): Promise<void> {
  const probe = requests.next();
  const res = await fetch(`${apiUrl}/v1/checkouts`, {
    method: 'POST',
    headers: probe.headers,
    body: probe.body,
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 202) {
    throw new Error(`the API refused the bench's first checkout (${res.status}): ${await res.text()}`);
  }
}

async function main(): Promise<BenchResult> {
  const rng = new SeededRandom(o.seed);
  const drillCatalog = makeDrillCatalog(rng, o.creators);
  const runId = `${Date.now().toString(36)}${rng.token(6)}`;
  const requests = new CheckoutRequests(drillCatalog, runId);
  const pgbench = await pgbenchVersion();
  // The figures assume the machine is ours: wait for it (--wait-idle), and say so when it is not.
  const cores = cpus().length;
  const busyBefore = await waitForQuietMachine(cores);
  if (busyBefore > BUSY_WARNING) {
    say(
      `WARNING: the machine was ${(busyBefore * 100).toFixed(0)}% busy before the bench started; something else is running and the figures will be low`,
    );
  }

  const s = (stack = await BenchStack.create({
    drillCatalog,
    logLevel: o.logLevel,
    workerConcurrency: o.workerConcurrency,
    statementStats: o.statements,
    cpuProfileDir: o.cpuProfileDir,
    progress: say,
  }));
  await s.boot();
  const postgres = await scalar(s.queueUrl, "SELECT current_setting('server_version') AS v");
  const subjects = (): CpuSubject[] => [
    { name: 'api', pid: s.api?.pid },
    { name: 'worker', pid: s.worker?.pid },
    { name: 'provider', pid: s.psp?.pid },
    { name: 'postgres queue', pid: s.queueServer?.pid, withChildren: true },
    { name: 'postgres ledger', pid: s.ledgerServer?.pid, withChildren: true },
    // kthreadd's children: ext4 journal commits after the provider's fsyncs, kworkers, etc.
    { name: 'kernel threads', pid: KTHREADD_PID, withChildren: true },
  ];

  say(`API at ${s.apiUrl}; sending one checkout to check the request shape`);
  await preflight(s.apiUrl, requests);
  const load = {
    url: `${s.apiUrl}/v1/checkouts`,
    rate: o.rate,
    lanes: o.lanes,
    connectionsPerLane: o.connections,
    requests,
    signal: abort.signal,
  };
  if (o.warmupSec > 0) {
    say(`warm-up: ${o.warmupSec} s at ${o.rate} req/s`);
    await runAcceptLoad({ ...load, durationSec: o.warmupSec });
  }

  say(`accept: ${o.durationSec} s at ${o.rate} req/s over ${o.lanes} lanes x ${o.connections} connections`);
  const commitsSql = `SELECT xact_commit AS v FROM pg_stat_database WHERE datname = 'queue'`;
  const commitsBefore = Number(await scalar(s.queueUrl, commitsSql));
  if (o.statements) await resetStatementStats(s.queueUrl);
  const cpuBefore = sampleCpu(subjects());
  const accepted = await runAcceptLoad({ ...load, durationSec: o.durationSec });
  const cpuAfter = sampleCpu(subjects());
  const acceptStatements = o.statements ? await readStatementStats(s.queueUrl) : null;
  // pg_stat counters reach the view when a backend reports, at most ~1 s later (and at idle).
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const commitsAfter = Number(await scalar(s.queueUrl, commitsSql));
  const count202 = accepted.statusCounts['202'] ?? 0;
  const responses = Object.values(accepted.statusCounts).reduce((a, b) => a + b, 0);
  const acceptFigures: AcceptFigures = {
    targetRate: o.rate,
    durationSec: o.durationSec,
    lanes: o.lanes,
    connectionsPerLane: o.connections,
    sent: accepted.sent,
    accepted202: count202,
    acceptedPerSec: count202 / accepted.durationSec,
    non202: responses - count202,
    statusCounts: accepted.statusCounts,
    connectionErrors: accepted.errors,
    timeouts: accepted.timeouts,
    latencyMs: summarise(accepted.acceptedLatenciesMs),
    // Minus the first read's own commit, which shows up in the second read.
    queueCommitsPerAccept: count202 > 0 ? (commitsAfter - commitsBefore - 1) / count202 : null,
    cpu: cpuBetween(cpuBefore, cpuAfter, cores),
  };
  const queued = Number(await scalar(s.queueUrl, 'SELECT count(*) AS v FROM queue_message'));
  say(`accept done: ${count202} accepted in the measured window; ${queued} messages queued in all`);

  let settle: BenchResult['settle'] = null;
  let settleStatements: { queue: StatementStats; ledger: StatementStats } | null = null;
  if (o.settle && !abort.signal.aborted) {
    say(`settle: starting the worker (concurrency ${o.workerConcurrency}) on ${queued} queued checkouts`);
    let before = sampleCpu(subjects());
    const result = await runSettlePhase({
      ledgerUrl: s.ledgerUrl,
      expected: queued,
      timeoutSec: o.settleTimeoutSec,
      startWorker: async () => {
        if (o.statements)
          await Promise.all([resetStatementStats(s.queueUrl), resetStatementStats(s.ledgerUrl)]);
        await s.startWorker();
        // The worker is running from here; its CPU before this sample is start-up.
        before = sampleCpu(subjects());
      },
      progress: say,
      signal: abort.signal,
    });
    settle = { ...result, cpu: cpuBetween(before, sampleCpu(subjects()), cores) };
    if (o.statements) {
      settleStatements = {
        queue: await readStatementStats(s.queueUrl),
        ledger: await readStatementStats(s.ledgerUrl),
      };
    }
    say(`settle done: ${result.settled}/${queued} in ${result.wallSec.toFixed(1)} s`);
  }

  say('stopping the stack');
  await s.stop();

  let baseline: BenchResult['pgbench'] = null;
  if (o.pgbench && !abort.signal.aborted) {
    const subject = (server: PostgresServer): CpuSubject[] => [
      { name: 'postgres', pid: server.pid, withChildren: true },
      { name: 'kernel threads', pid: KTHREADD_PID, withChildren: true },
      // pgbench is our child: once it has exited and been waited for, its CPU is in our cutime.
      { name: 'pgbench client', pid: process.pid, reapedChildrenOnly: true },
    ];
    let before: CpuSample | undefined;
    let cpu: CpuUsage | undefined;
    pgbenchPhase = runPgbench({
      scale: o.pgbenchScale,
      clients: o.pgbenchClients,
      threads: o.pgbenchThreads,
      durationSec: o.pgbenchDurationSec,
      progress: say,
      signal: abort.signal,
      onServer: (server) => (pgbenchServer = server),
      onRunStart: (server) => (before = sampleCpu(subject(server))),
      onRunEnd: (server) => {
        if (before) cpu = cpuBetween(before, sampleCpu(subject(server)), cores);
      },
    });
    const result = await pgbenchPhase;
    if (result.ran) {
      baseline = cpu ? { ...result, cpu } : result;
    } else {
      say(result.reason);
      baseline = result;
    }
  }

  return {
    machine: {
      cores,
      busyBeforeStart: busyBefore,
      memoryGiB: totalmem() / 2 ** 30,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      kernel: release(),
      node: process.version,
      postgres,
      pgbench,
    },
    settings: { ...o, cpuProfileDir: o.cpuProfileDir ?? '' },
    accept: acceptFigures,
    queued,
    settle,
    pgbench: baseline,
    statements: acceptStatements
      ? {
          accept: acceptStatements,
          settleQueue: settleStatements?.queue ?? null,
          settleLedger: settleStatements?.ledger ?? null,
        }
      : null,
    verdicts: verdictsOf(acceptFigures, settle, baseline),
  };
}

try {
  const result = await main();
  await cleanup();
  process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : formatBenchResult(result));
} catch (err) {
  if (!abort.signal.aborted) {
    say(`bench failed: ${(err as Error).stack ?? String(err)}`);
    await cleanup();
    process.exit(1);
  }
}
