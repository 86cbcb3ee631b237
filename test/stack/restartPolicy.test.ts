// The supervisor's restart backoff: doubling from the initial delay up to the
// cap, and a fresh start after the process stayed up long enough.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashLoop } from '../../src/stack/restartPolicy.ts';

const policy = { initialDelayMs: 100, maxDelayMs: 1_000, resetAfterMs: 10_000 };

test('a crash loop backs off exponentially up to the cap', () => {
  const loop = new CrashLoop(policy);
  loop.started(0);
  const delays = [1, 2, 3, 4, 5, 6].map((t) => loop.crashed(t));
  assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000]);
});

test('failed starts (no started() in between) keep doubling', () => {
  const loop = new CrashLoop(policy);
  loop.started(0);
  assert.equal(loop.crashed(5), 100);
  assert.equal(loop.crashed(200), 200); // the restart itself died before it was ready
  assert.equal(loop.crashed(500), 400);
});

test('a process that stayed up for resetAfterMs starts a new loop; a shorter run does not', () => {
  const loop = new CrashLoop(policy);
  loop.started(0);
  loop.crashed(1);
  loop.crashed(2);
  loop.started(3);
  assert.equal(loop.crashed(3 + 9_999), 400, 'up for less than resetAfterMs: still in the loop');
  loop.started(20_000);
  assert.equal(loop.crashed(30_000), 100, 'up for resetAfterMs: back to the initial delay');
});
