// graphile-worker 0.18 with one named queue per group (queue_name = group),
// under the evaluation workload, and probed for the semantics the Queue port needs.

import { Logger, makeWorkerUtils, run, type Runner, type Task } from 'graphile-worker';
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

const silent = new Logger(() => () => {});

async function runner(url: string, concurrency: number, task: Task): Promise<Runner> {
  return run({
    connectionString: url,
    concurrency,
    noHandleSignals: true,
    pollInterval: 500,
    logger: silent,
    taskList: { pay: task },
  });
}

export async function runGraphileWorker(url: string, workload: Workload): Promise<RunResult> {
  const utils = await makeWorkerUtils({ connectionString: url, logger: silent });
  await utils.migrate();
  const total = totalMessages(workload);
  let worker: Runner | undefined;
  try {
    const enqueueMs = await produce(workload, (item) => utils.addJob('pay', item, { queueName: item.group }));
    const tracker = new Tracker();
    const startedAt = performance.now();
    worker = await runner(url, workload.concurrency, async (payload) => {
      const item = payload as Item;
      tracker.start(item);
      await Promise.resolve();
      tracker.finish(item);
    });
    await until(() => tracker.consumed >= total, 600_000);
    return {
      messages: total,
      enqueueMs,
      consumeMs: performance.now() - startedAt,
      consumed: tracker.consumed,
      orderViolations: tracker.orderViolations,
      overlapViolations: tracker.overlapViolations,
    };
  } finally {
    await worker?.stop();
    await utils.release();
  }
}

async function drain(url: string, expected: number, fail: (index: number, attempt: number) => boolean) {
  const order: number[] = [];
  const worker = await runner(url, 4, (payload, helpers) => {
    const { index } = payload as { index: number };
    order.push(index);
    return fail(index, helpers.job.attempts)
      ? Promise.reject(new Error('handler failed'))
      : Promise.resolve();
  });
  await until(() => order.length >= expected, 8_000);
  await worker.stop();
  return order;
}

export async function probeGraphileWorker(freshDatabase: () => Promise<string>): Promise<ProbeResult[]> {
  const candidate = 'graphile-worker 0.18 named queue';
  const results: ProbeResult[] = [];

  // 1. Jobs of one queue added in one batch share run_at; the fetch orders by (priority, run_at) only.
  const batchUrl = await freshDatabase();
  const utils = await makeWorkerUtils({ connectionString: batchUrl, logger: silent });
  try {
    await utils.migrate();
    await utils.addJobs(
      Array.from({ length: 20 }, (_, index) => ({ identifier: 'pay', payload: { index }, queueName: 'k' })),
    );
  } finally {
    await utils.release();
  }
  const batchOrder = await drain(batchUrl, 20, () => false);
  results.push({
    candidate,
    probe: '20 jobs of one queue added in one batch',
    outcome: batchOrder.every((v, i) => v === i)
      ? 'ran in order'
      : `ran OUT OF ORDER: ${batchOrder.join(',')}`,
  });

  // 2. The first job fails once: the queue is unlocked and the retry is scheduled later.
  const retryUrl = await freshDatabase();
  const retryUtils = await makeWorkerUtils({ connectionString: retryUrl, logger: silent });
  try {
    await retryUtils.migrate();
    for (let index = 0; index < 4; index++) await retryUtils.addJob('pay', { index }, { queueName: 'k' });
  } finally {
    await retryUtils.release();
  }
  const retryOrder = await drain(retryUrl, 5, (i, attempt) => i === 0 && attempt === 1);
  results.push({
    candidate,
    probe: 'first job of a queue fails once',
    outcome: `ran ${retryOrder.join(',')}${retryOrder.join(',') === '0,0,1,2,3' ? ' (order kept)' : ' (order BROKEN: the retry waits ~e^1 s while the next jobs run)'}`,
  });
  return results;
}
