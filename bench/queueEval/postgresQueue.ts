// Our PostgresQueue under the evaluation workload. receiveBatch 1: `concurrency`
// loops each receive one message, handle it, delete it. receiveBatch > 1: one
// loop receives up to its free slots at a time, as src/worker does.

import { PostgresQueue } from '../../src/queue/PostgresQueue.ts';
import type { ReceivedMessage } from '../../src/queue/Queue.ts';
import { produce, totalMessages, Tracker, type Item, type RunResult, type Workload } from './workload.ts';

export async function runPostgresQueue(
  url: string,
  workload: Workload,
  receiveBatch: number,
): Promise<RunResult> {
  const queue = await PostgresQueue.open({ databaseUrl: url, maxConnections: workload.concurrency + 4 });
  try {
    const total = totalMessages(workload);
    const enqueueMs = await produce(workload, (item) =>
      queue.send({ groupId: item.group, dedupId: `${item.group}/${item.index}`, body: JSON.stringify(item) }),
    );
    const tracker = new Tracker();
    const handle = async (m: ReceivedMessage) => {
      const item = JSON.parse(m.body) as Item;
      tracker.start(item);
      tracker.finish(item);
      if (!(await queue.delete(m.receiptHandle))) throw new Error('stale receipt in an uncontended run');
    };
    const startedAt = performance.now();
    if (receiveBatch === 1) {
      await Promise.all(
        Array.from({ length: workload.concurrency }, async () => {
          while (tracker.consumed < total) {
            const [m] = await queue.receive({ maxMessages: 1, waitTimeMs: 200 });
            if (m) await handle(m);
          }
        }),
      );
    } else {
      const inFlight = new Set<Promise<void>>();
      while (tracker.consumed < total) {
        const free = workload.concurrency - inFlight.size;
        if (free === 0) {
          await Promise.race(inFlight);
          continue;
        }
        const messages = await queue.receive({ maxMessages: free, waitTimeMs: 200 });
        for (const m of messages) {
          const p: Promise<void> = handle(m).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        if (messages.length === 0 && inFlight.size > 0) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }
    return {
      messages: total,
      enqueueMs,
      consumeMs: performance.now() - startedAt,
      consumed: tracker.consumed,
      orderViolations: tracker.orderViolations,
      overlapViolations: tracker.overlapViolations,
    };
  } finally {
    await queue.close();
  }
}
