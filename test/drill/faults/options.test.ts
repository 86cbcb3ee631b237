// The fault scenarios' small pure parts: db-latency's configuration from the
// environment, and the interrupt helpers that stop a scenario on Ctrl-C.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DB_LATENCY_DEFAULTS, dbLatencyOptionsFromEnv } from '../../../src/drill/scenarios/dbLatency.ts';
import { isFirebreakError } from '../../../src/errors/index.ts';
import {
  DrillInterrupted,
  faultDuration,
  throwIfInterrupted,
  unlessInterrupted,
} from '../../../src/faults/interrupt.ts';

test('db-latency options: defaults, overrides, and a clear FB_CONFIG_INVALID for bad values', () => {
  assert.deepEqual(dbLatencyOptionsFromEnv({}), DB_LATENCY_DEFAULTS);
  assert.deepEqual(dbLatencyOptionsFromEnv({ FIREBREAK_DRILL_DB_LATENCY_MS: '' }), DB_LATENCY_DEFAULTS);
  assert.deepEqual(
    dbLatencyOptionsFromEnv({ FIREBREAK_DRILL_DB_LATENCY_MS: '200', FIREBREAK_DRILL_DB_JITTER_MS: '20' }),
    { latencyMs: 200, jitterMs: 20 },
  );
  // A latency below the default jitter keeps the jitter within it.
  assert.deepEqual(dbLatencyOptionsFromEnv({ FIREBREAK_DRILL_DB_LATENCY_MS: '30' }), {
    latencyMs: 30,
    jitterMs: 30,
  });
  for (const [env, pattern] of [
    [{ FIREBREAK_DRILL_DB_LATENCY_MS: 'slow' }, /FIREBREAK_DRILL_DB_LATENCY_MS must be a whole number/],
    [{ FIREBREAK_DRILL_DB_LATENCY_MS: '-5' }, /FIREBREAK_DRILL_DB_LATENCY_MS must be a whole number/],
    [{ FIREBREAK_DRILL_DB_LATENCY_MS: '600000' }, /at most 60000/],
    [{ FIREBREAK_DRILL_DB_LATENCY_MS: '100', FIREBREAK_DRILL_DB_JITTER_MS: '200' }, /must not exceed/],
  ] as const) {
    assert.throws(
      () => dbLatencyOptionsFromEnv(env),
      (err: unknown) =>
        isFirebreakError(err) && err.code === 'FB_CONFIG_INVALID' && pattern.test(err.message),
      JSON.stringify(env),
    );
  }
});

test('interrupt helpers: a wait rejects as soon as the drill is interrupted; nothing is injected after', async () => {
  const controller = new AbortController();
  const never = new Promise<void>(() => {});
  const waiting = unlessInterrupted(controller.signal, never);
  const sleeping = faultDuration(60_000, controller.signal);
  assert.doesNotThrow(() => throwIfInterrupted(controller.signal));
  controller.abort();
  await assert.rejects(waiting, DrillInterrupted);
  await assert.rejects(sleeping, DrillInterrupted);
  assert.throws(() => throwIfInterrupted(controller.signal), DrillInterrupted);
  await assert.rejects(unlessInterrupted(controller.signal, Promise.resolve(1)), DrillInterrupted);
  // Without a signal, or before an abort, work passes through.
  assert.equal(await unlessInterrupted(undefined, Promise.resolve(2)), 2);
  assert.equal(await unlessInterrupted(new AbortController().signal, Promise.resolve(3)), 3);
  await faultDuration(1, undefined);
});
