// Faults switched at run time: errors before and after capture, outage,
// latency, and concurrent requests with one key.

// node:test's describe/it return promises that the runner itself awaits.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import type { SandboxApp } from '../../src/psp/sandboxServer.ts';
import {
  captureBody,
  captureJson,
  errorCode,
  postCapture,
  putControl,
  sandboxApp,
  withDataDir,
} from './helpers.ts';

async function metric(app: SandboxApp, line: RegExp): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const match = line.exec(text);
  return match ? Number(match[1]) : 0;
}

describe('errorRate', () => {
  it('fails before capturing: 500 PSP_TRANSIENT and nothing recorded', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { errorRate: 1 } });
      const body = captureBody();
      for (let i = 0; i < 3; i++) {
        const res = await postCapture(app, 'e-1', body);
        assert.equal(res.statusCode, 500);
        assert.equal(errorCode(res), 'PSP_TRANSIENT');
      }
      assert.equal((await readCaptureRecord(dataDir)).length, 0);
      await putControl(app, { errorRate: 0 });
      const res = await postCapture(app, 'e-1', body);
      assert.equal(res.statusCode, 201, 'the first capture for the key happens once errors stop');
      assert.equal(
        await metric(app, /^psp_injected_faults_total\{fault="error_before_capture"\} (\d+)$/m),
        3,
      );
      await app.close();
    }));

  it('fails a fraction of requests, decided per attempt, so retries with the key get through', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `retry-${i}`);
    const run = () =>
      withDataDir(async (dataDir) => {
        const app = await sandboxApp({ dataDir, seed: 'err-seed', faults: { errorRate: 0.5 } });
        const attempts: number[] = [];
        for (const key of keys) {
          const body = captureBody();
          let n = 1;
          while ((await postCapture(app, key, body)).statusCode === 500) n++;
          attempts.push(n);
        }
        const records = await readCaptureRecord(dataDir);
        assert.deepEqual(
          records.map((r) => r.idempotencyKey).sort(),
          [...keys].sort(),
          'exactly one result per key',
        );
        await app.close();
        return attempts;
      });
    const first = await run();
    assert.deepEqual(await run(), first, 'the same seed fails the same attempts');
    const failed = first.reduce((sum, n) => sum + n - 1, 0);
    assert.ok(failed > 10 && failed < 100, `${failed} failed attempts for 40 keys at 0.5`);
  });
});

describe('errorAfterCaptureRate', () => {
  it('records the capture, answers 500, and the retry with the key returns that capture', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { errorAfterCaptureRate: 1 } });
      const body = captureBody();
      const lost = await postCapture(app, 'eac-1', body);
      assert.equal(lost.statusCode, 500);
      assert.equal(errorCode(lost), 'PSP_TRANSIENT', 'indistinguishable from an error before capture');
      const records = await readCaptureRecord(dataDir);
      assert.equal(records.length, 1, 'the money moved');
      // Still at rate 1: the fault applies to new captures only, a replay answers.
      const retry = await postCapture(app, 'eac-1', body);
      assert.equal(retry.statusCode, 200);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.equal(captureJson(retry).captureId, records[0]?.captureId);
      assert.equal((await readCaptureRecord(dataDir)).length, 1, 'and it moved once');
      await app.close();
    }));
});

describe('outage', () => {
  it('answers every capture 503 PSP_UNAVAILABLE at once, before reading the body, until switched off', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody();
      await putControl(app, { outage: true, latencyMs: 60_000 });
      const started = Date.now();
      for (const res of [
        await postCapture(app, 'o-1', body),
        await postCapture(app, undefined, 'not even JSON'),
      ]) {
        assert.equal(res.statusCode, 503);
        assert.equal(errorCode(res), 'PSP_UNAVAILABLE');
        assert.equal(res.headers['retry-after'], '1');
      }
      assert.ok(Date.now() - started < 5_000, 'outage does not wait out the latency');
      const control = await putControl(app, { outage: false, latencyMs: 0 });
      assert.equal(control.statusCode, 200, 'the control plane works during an outage');
      assert.equal((await readCaptureRecord(dataDir)).length, 0);
      assert.equal((await postCapture(app, 'o-1', body)).statusCode, 201);
      await app.close();
    }));

  it('also refuses a request that was waiting out its latency when the outage began', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { latencyMs: 400 } });
      const pending = postCapture(app, 'o-2', captureBody());
      await putControl(app, { outage: true });
      assert.equal((await pending).statusCode, 503);
      assert.equal((await readCaptureRecord(dataDir)).length, 0);
      await app.close();
    }));
});

describe('latency', () => {
  it('delays captures by latencyMs, switchable at run time', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const timed = async (key: string) => {
        const started = performance.now();
        const res = await postCapture(app, key, captureBody());
        assert.equal(res.statusCode, 201);
        return performance.now() - started;
      };
      await putControl(app, { latencyMs: 300 });
      assert.ok((await timed('l-1')) >= 290);
      await putControl(app, { latencyMs: 0 });
      assert.ok((await timed('l-2')) < 290);
      await app.close();
    }));

  it('gives up waiting when the sandbox shuts down, without capturing', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { latencyMs: 60_000 } });
      const started = Date.now();
      const pending = postCapture(app, 'l-3', captureBody());
      await app.close();
      const res = await pending;
      assert.equal(res.statusCode, 503);
      assert.ok(Date.now() - started < 5_000);
      assert.equal((await readCaptureRecord(dataDir)).length, 0);
    }));
});

describe('concurrency', () => {
  it('captures once when many requests with one key arrive together', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { latencyMs: 20 } });
      const body = captureBody();
      const responses = await Promise.all(Array.from({ length: 25 }, () => postCapture(app, 'same', body)));
      const statuses = responses.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [...Array<number>(24).fill(200), 201]);
      assert.equal(new Set(responses.map((r) => captureJson(r).captureId)).size, 1);
      assert.equal((await readCaptureRecord(dataDir)).length, 1);
      await app.close();
    }));

  it('lets one of many different bodies with one key win and refuses the rest', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          postCapture(app, 'race', captureBody({ amountMinor: String(100 + i) })),
        ),
      );
      const statuses = responses.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [201, ...Array<number>(9).fill(409)]);
      assert.equal((await readCaptureRecord(dataDir)).length, 1);
      await app.close();
    }));

  it('keeps one line per key when many keys are captured at once (group commit)', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const keys = Array.from({ length: 200 }, (_, i) => `many-${i}`);
      const responses = await Promise.all(keys.map((key) => postCapture(app, key, captureBody())));
      assert.ok(responses.every((r) => r.statusCode === 201));
      const records = await readCaptureRecord(dataDir);
      assert.deepEqual(records.map((r) => r.idempotencyKey).sort(), [...keys].sort());
      await app.close();
    }));
});
