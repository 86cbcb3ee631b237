// Queue evaluation, in one run on this machine: our PostgresQueue against
// pg-boss (key_strict_fifo queue) and graphile-worker (one named queue per
// group), each on a fresh database of one embedded Postgres 18 server.
//
//   node bench/queue-eval.ts [--messages 5000] [--groups 50] [--concurrency 8]
//
// Throughput: enqueue N messages over G groups (8 producers, each group's
// messages sent in order), then consume them with ~8 handlers at once,
// acknowledging each. Every run also checks that per-group order held and that
// no two messages of a group were ever handled at once. Then semantic probes:
// the orders pg-boss and graphile-worker keep when jobs of one key are
// inserted in one batch, when a job fails once, and when one fails for good;
// and whether pgmq can be installed here. docs/queue.md reports the results.

import { parseArgs } from 'node:util';
import { PostgresServer } from '../src/stack/postgresServer.ts';
import { runGraphileWorker, probeGraphileWorker } from './queueEval/graphileWorker.ts';
import { probePgBoss, runPgBoss } from './queueEval/pgBoss.ts';
import { probePgmq } from './queueEval/pgmq.ts';
import { runPostgresQueue } from './queueEval/postgresQueue.ts';
import type { Workload, RunResult, ProbeResult } from './queueEval/workload.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    groups: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '8' },
    only: { type: 'string' },
  },
});
const workload: Workload = {
  messages: Number(values.messages),
  groups: Number(values.groups),
  concurrency: Number(values.concurrency),
};

const server = await PostgresServer.start({ name: 'queue-eval' });
let databases = 0;
const freshDatabase = () => server.createDatabase(`eval_${++databases}`);
const log = (line: string) => process.stderr.write(`${line}\n`);

try {
  const candidates: [string, (url: string) => Promise<RunResult>][] = [
    ['PostgresQueue (ours)', (url) => runPostgresQueue(url, workload, 1)],
    [
      'PostgresQueue (ours, worker-style batch receive)',
      (url) => runPostgresQueue(url, workload, workload.concurrency),
    ],
    ['pg-boss 12.35 key_strict_fifo, polling', (url) => runPgBoss(url, workload, 'polling')],
    ['pg-boss 12.35 key_strict_fifo, batch+burst+notify', (url) => runPgBoss(url, workload, 'tuned')],
    ['graphile-worker 0.18 named queues', (url) => runGraphileWorker(url, workload)],
  ];
  const results: RunResult[] = [];
  for (const [name, run] of candidates) {
    if (values.only && !name.includes(values.only)) continue;
    log(`running ${name} ...`);
    results.push({ ...(await run(await freshDatabase())), name });
  }

  log('running semantic probes ...');
  const probes: ProbeResult[] = [
    ...(await probePgBoss(freshDatabase)),
    ...(await probeGraphileWorker(freshDatabase)),
    await probePgmq(await freshDatabase()),
  ];

  const cpu = (await import('node:os')).cpus();
  console.log(
    `\nQueue evaluation: ${workload.messages} messages over ${workload.groups} groups, ` +
      `concurrency ${workload.concurrency}, Postgres 18 (embedded), ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}\n`,
  );
  console.table(
    results.map((r) => ({
      candidate: r.name,
      'enqueue msg/s': Math.round(r.messages / (r.enqueueMs / 1000)),
      'consume msg/s': Math.round(r.messages / (r.consumeMs / 1000)),
      'end-to-end msg/s': Math.round(r.messages / ((r.enqueueMs + r.consumeMs) / 1000)),
      consumed: r.consumed,
      'order kept': r.orderViolations === 0 ? 'yes' : `NO (${r.orderViolations})`,
      'one at a time per group': r.overlapViolations === 0 ? 'yes' : `NO (${r.overlapViolations})`,
    })),
  );
  console.log('\nSemantic probes:');
  for (const p of probes) console.log(`- ${p.candidate}: ${p.probe}: ${p.outcome}`);
} finally {
  await server.destroy();
}
