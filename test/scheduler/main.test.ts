// The scheduler as a real process (`node src/scheduler/main.ts`): the ready
// message over IPC, admin endpoints, renewals enqueued on the wall clock,
// metrics, graceful stop on SIGTERM, and bad configuration refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProcess } from '../../src/stack/serviceProcess.ts';
import { renewalCheckoutId } from '../../src/scheduler/index.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { plusDays, renewalFixture } from './renewalFixture.ts';

const MAIN = fileURLToPath(new URL('../../src/scheduler/main.ts', import.meta.url));

function metricValue(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('the scheduler process enqueues due renewals, serves its admin port and stops on SIGTERM', async (t) => {
  const f = await renewalFixture(t);
  // Period 1 of this one is due now (its anchor was a week ago); the other is not due for a month.
  const due = await f.subscribe('weekly', plusDays(new Date(), -7.5).toISOString());
  await f.subscribe('monthly', new Date().toISOString(), 1);
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-scheduler-main-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const scheduler = new ServiceProcess({
    name: 'scheduler',
    entry: MAIN,
    env: {
      LEDGER_DATABASE_URL: f.ledgerUrl,
      QUEUE_DATABASE_URL: f.queueUrl,
      SCHEDULER_INTERVAL_MS: '100',
      SCHEDULER_BATCH_SIZE: '10',
      LOG_LEVEL: 'info',
    },
    logFile: join(dir, 'scheduler.log'),
  });
  f.beforeClose(() => scheduler.stop());
  const ready = await scheduler.start();
  const admin = `http://127.0.0.1:${String(ready.adminPort)}`;

  const id = renewalCheckoutId(due, 1, 1);
  await waitFor('the renewal in the queue', async () => (await f.queuedPerCheckout()).get(id) === 1);
  assert.equal((await fetch(`${admin}/livez`)).status, 200);
  assert.equal((await fetch(`${admin}/readyz`)).status, 200);
  const metrics = await waitFor('the metrics of a run after the send', async () => {
    const text = await (await fetch(`${admin}/metrics`)).text();
    return metricValue(text, 'checkout_scheduler_renewals_enqueued_total{result="sent"}') === 1 &&
      metricValue(text, 'checkout_scheduler_due_backlog') === 0
      ? text
      : undefined;
  });
  assert.equal(metricValue(metrics, 'checkout_scheduler_renewals_claimed_total'), 1);
  assert.equal(metricValue(metrics, 'checkout_scheduler_past_due_subscriptions'), 0);
  assert.equal(metricValue(metrics, 'checkout_scheduler_unsent_renewals'), 0);
  assert.ok((metricValue(metrics, 'checkout_scheduler_runs_total{outcome="ok"}') ?? 0) >= 1);

  await scheduler.stop();
  assert.equal(scheduler.running, false);
  // Nothing more was sent, and only the due subscription was claimed.
  assert.deepEqual([...(await f.queuedPerCheckout()).keys()], [id]);
});

test('drill clock control: absent unless configured; with a key it moves the clock forward only, and due renewals follow', async (t) => {
  const f = await renewalFixture(t);
  const sub = await f.subscribe('monthly', new Date().toISOString()); // period 1 is a month away
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-scheduler-clock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const start = async (name: string, extra: Record<string, string>) => {
    const svc = new ServiceProcess({
      name,
      entry: MAIN,
      env: {
        LEDGER_DATABASE_URL: f.ledgerUrl,
        QUEUE_DATABASE_URL: f.queueUrl,
        SCHEDULER_INTERVAL_MS: '100',
        ...extra,
      },
      logFile: join(dir, `${name}.log`),
    });
    f.beforeClose(() => svc.stop());
    return `http://127.0.0.1:${String((await svc.start()).adminPort)}/v1/admin/clock`;
  };
  const put = (url: string, body: unknown, key?: string) =>
    fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...(key ? { 'x-control-key': key } : {}) },
      body: JSON.stringify(body),
    });

  const plain = await start('plain', {});
  assert.equal((await put(plain, { offsetMs: 1 })).status, 404, 'no clock control in a normal process');

  const key = 'clock-key-0123456789';
  const controlled = await start('controlled', { SCHEDULER_CLOCK_CONTROL_KEY: key });
  assert.equal((await put(controlled, { offsetMs: 1 })).status, 401);
  assert.equal((await put(controlled, { offsetMs: 1 }, 'wrong-key-0123456789')).status, 401);
  for (const bad of [{ offsetMs: -1 }, { offsetMs: 1.5 }, { offsetMs: '1' }, { offset: 1 }, {}]) {
    const res = await put(controlled, bad, key);
    assert.equal(res.status, 400, JSON.stringify(bad));
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FB_INVALID_FIELD');
  }
  const jump = 40 * 86_400_000;
  assert.equal((await put(controlled, { offsetMs: jump }, key)).status, 200);
  assert.equal((await put(controlled, { offsetMs: jump - 1 }, key)).status, 400, 'never backwards');
  const id = renewalCheckoutId(sub, 1, 1);
  await waitFor(
    'the month-away renewal queued after the jump',
    async () => (await f.queuedPerCheckout()).get(id) === 1,
  );
});

test('the scheduler process refuses bad configuration with exit code 2, naming the variable', async () => {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', MAIN],
      {
        env: {
          PATH: process.env.PATH ?? '',
          LEDGER_DATABASE_URL: 'postgres://127.0.0.1:1/x',
          QUEUE_DATABASE_URL: 'not a url',
          SCHEDULER_INTERVAL_MS: '5',
        },
        timeout: 20_000,
      },
      (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
    );
  });
  assert.equal(code, 2);
  assert.match(stderr, /FB_CONFIG_INVALID/);
  assert.match(stderr, /QUEUE_DATABASE_URL/);
  assert.match(stderr, /SCHEDULER_INTERVAL_MS/);
});
