// BatchCalls: concurrent calls coalesced into batches (src/util/batchCalls.ts),
// with a run function that records what it was given.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchCalls } from '../../src/util/batchCalls.ts';

function recorder(options: { maxBatch?: number; maxConcurrent?: number; keyed?: boolean } = {}) {
  const batches: number[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const calls = new BatchCalls<number, number>({
    run: async (items) => {
      batches.push([...items]);
      if (gate) await gate;
      return items.map((i) =>
        i < 0
          ? { status: 'rejected', reason: new Error(`bad ${i}`) }
          : { status: 'fulfilled', value: i * 10 },
      );
    },
    maxBatch: options.maxBatch ?? 100,
    maxConcurrent: options.maxConcurrent ?? 1,
    ...(options.keyed ? { keyOf: (i: number) => String(Math.abs(i) % 3) } : {}),
  });
  return {
    calls,
    batches,
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    open() {
      gate = undefined;
      release?.();
    },
  };
}

test('calls made together go out as one batch, and each caller gets its own result', async () => {
  const r = recorder();
  const results = await Promise.allSettled([1, 2, -3, 4].map((i) => r.calls.submit(i)));
  assert.deepEqual(r.batches, [[1, 2, -3, 4]]);
  assert.deepEqual(
    results.map((x) => (x.status === 'fulfilled' ? x.value : (x.reason as Error).message)),
    [10, 20, 'bad -3', 40],
  );
});

test('calls that arrive while a batch runs make the next batch; maxBatch caps each', async () => {
  const r = recorder({ maxBatch: 3 });
  r.hold();
  const first = r.calls.submit(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(r.batches, [[1]], 'a lone call goes out at once');
  const later = [2, 3, 4, 5].map((i) => r.calls.submit(i));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.batches.length, 1, 'nothing else starts while the batch runs (maxConcurrent 1)');
  r.open();
  assert.deepEqual(await Promise.all([first, ...later]), [10, 20, 30, 40, 50]);
  assert.deepEqual(r.batches, [[1], [2, 3, 4], [5]]);
  await r.calls.idle();
});

test('items with the same key never share a batch', async () => {
  const r = recorder({ keyed: true });
  assert.deepEqual(await Promise.all([1, 4, 2, 7].map((i) => r.calls.submit(i))), [10, 40, 20, 70]);
  // Keys: 1 → 1, 4 → 1, 2 → 2, 7 → 1.
  assert.deepEqual(r.batches, [[1, 2], [4], [7]]);
});

test('a run that throws fails every caller of its batch, and later batches still run', async () => {
  let fail = true;
  const calls = new BatchCalls<number, number>({
    run: (items) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('database down'));
      }
      return Promise.resolve(items.map((i) => ({ status: 'fulfilled', value: i })));
    },
    maxBatch: 10,
    maxConcurrent: 1,
  });
  const failed = await Promise.allSettled([calls.submit(1), calls.submit(2)]);
  assert.deepEqual(
    failed.map((x) => x.status === 'rejected' && (x.reason as Error).message),
    ['database down', 'database down'],
  );
  assert.equal(await calls.submit(3), 3);
});

test('bad options are refused at construction', () => {
  const run = () => Promise.resolve([]);
  assert.throws(() => new BatchCalls({ run, maxBatch: 0, maxConcurrent: 1 }), RangeError);
  assert.throws(() => new BatchCalls({ run, maxBatch: 1, maxConcurrent: 1.5 }), RangeError);
});
