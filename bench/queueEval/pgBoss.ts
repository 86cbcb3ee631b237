// pg-boss 12.35 with a key_strict_fifo queue (singletonKey = group), under the
// evaluation workload, and probed for the semantics the Queue port needs.

import { PgBoss } from 'pg-boss';
import {
  produce,
  totalMessages,
  Tracker,
  until,
  type Item,
  type ProbeResult,
  type RunResult,
  type Workload,
} from './workload.ts';

const QUEUE = 'payments';

async function startBoss(url: string, notify: boolean): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: url,
    max: 20,
    supervise: false,
    schedule: false,
    useListenNotify: notify,
  });
  boss.on('error', (err: unknown) => process.stderr.write(`pg-boss error: ${String(err)}\n`));
  await boss.start();
  return boss;
}

/**
 * polling: localConcurrency = concurrency, one job per fetch, the shortest
 * allowed poll (0.5 s); a worker waits out the interval after every fetch.
 * tuned: fewer workers fetching batches, fetching again at once while batches
 * come back full, woken by NOTIFY on send.
 */
export async function runPgBoss(
  url: string,
  workload: Workload,
  mode: 'polling' | 'tuned',
): Promise<RunResult> {
  const boss = await startBoss(url, mode === 'tuned');
  try {
    await boss.createQueue(QUEUE, { policy: 'key_strict_fifo', retryLimit: 2, notify: mode === 'tuned' });
    const total = totalMessages(workload);
    const enqueueMs = await produce(workload, (item) => boss.send(QUEUE, item, { singletonKey: item.group }));
    const tracker = new Tracker();
    const startedAt = performance.now();
    const options =
      mode === 'polling'
        ? { localConcurrency: workload.concurrency, batchSize: 1, pollingIntervalSeconds: 0.5 }
        : {
            localConcurrency: 2,
            batchSize: Math.max(1, Math.floor(workload.concurrency / 2)),
            burstWhenBatchFull: true,
            pollingIntervalSeconds: 0.5,
          };
    await boss.work<Item>(QUEUE, options, async (jobs) => {
      await Promise.all(
        jobs.map(async (job) => {
          tracker.start(job.data);
          await Promise.resolve();
          tracker.finish(job.data);
        }),
      );
    });
    await until(() => tracker.consumed >= total, 600_000);
    const consumeMs = performance.now() - startedAt;
    return {
      messages: total,
      enqueueMs,
      consumeMs,
      consumed: tracker.consumed,
      orderViolations: tracker.orderViolations,
      overlapViolations: tracker.overlapViolations,
    };
  } finally {
    await boss.stop({ graceful: false, timeout: 5_000 });
  }
}

/** Drains `name` with one worker, recording the order in which indexes ran. */
async function drain(
  boss: PgBoss,
  name: string,
  expected: number,
  failIndex: (i: number, retry: number) => boolean,
  waitMs = 8_000,
) {
  const order: number[] = [];
  await boss.work<{ index: number }>(name, { localConcurrency: 1, pollingIntervalSeconds: 0.5 }, ([job]) => {
    if (job) order.push(job.data.index);
    const fail = job !== undefined && failIndex(job.data.index, job.retryCount);
    return fail ? Promise.reject(new Error('handler failed')) : Promise.resolve();
  });
  await until(() => order.length >= expected, waitMs);
  await boss.offWork(name);
  return order;
}

export async function probePgBoss(freshDatabase: () => Promise<string>): Promise<ProbeResult[]> {
  const boss = await startBoss(await freshDatabase(), false);
  const results: ProbeResult[] = [];
  const candidate = 'pg-boss 12.35 key_strict_fifo';
  try {
    // 1. Jobs of one key inserted in one batch share created_on; the head is chosen by random id.
    await boss.createQueue('batch', { policy: 'key_strict_fifo' });
    await boss.insert(
      'batch',
      Array.from({ length: 20 }, (_, index) => ({ data: { index }, singletonKey: 'k' })),
    );
    const batchOrder = await drain(boss, 'batch', 20, () => false, 20_000); // one job per 0.5 s poll
    const inOrder = batchOrder.every((v, i) => v === i);
    results.push({
      candidate,
      probe: '20 jobs of one key inserted in one batch',
      outcome: inOrder ? 'ran in order' : `ran OUT OF ORDER: ${batchOrder.join(',')}`,
    });

    // 2. The first job fails once: does the key wait for its retry?
    await boss.createQueue('retry', { policy: 'key_strict_fifo', retryLimit: 2, retryDelay: 1 });
    for (let index = 0; index < 4; index++) await boss.send('retry', { index }, { singletonKey: 'k' });
    const retryOrder = await drain(boss, 'retry', 5, (i, retry) => i === 0 && retry === 0);
    results.push({
      candidate,
      probe: 'first job of a key fails once (retryDelay 1 s)',
      outcome: `ran ${retryOrder.join(',')}${retryOrder.join(',') === '0,0,1,2,3' ? ' (order kept)' : ' (order BROKEN)'}`,
    });

    // 3. The first job fails for good: does the key move on (our DLQ semantics)?
    await boss.createQueue('poison_dlq');
    await boss.createQueue('poison', { policy: 'key_strict_fifo', retryLimit: 1, deadLetter: 'poison_dlq' });
    for (let index = 0; index < 3; index++) await boss.send('poison', { index }, { singletonKey: 'k' });
    const poisonOrder = await drain(boss, 'poison', 4, (i) => i === 0);
    results.push({
      candidate,
      probe: 'first job of a key always fails (retryLimit 1, deadLetter queue set)',
      outcome:
        poisonOrder.filter((i) => i !== 0).length === 0
          ? `ran ${poisonOrder.join(',')} then nothing for 8 s: the failed job blocks its key until deleted`
          : `ran ${poisonOrder.join(',')}: the key moved on`,
    });
  } finally {
    await boss.stop({ graceful: false, timeout: 5_000 });
  }
  return results;
}
