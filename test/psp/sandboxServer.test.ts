// The sandbox's capture API through app.inject(): results, idempotent replay,
// conflicts, deterministic declines, the control plane, metrics (bad input: badInput.test.ts).

// node:test's describe/it return promises that the runner itself awaits.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { DECLINE_CODES } from '../../src/psp/faults.ts';
import {
  CONTROL_KEY,
  captureBody,
  captureJson,
  controlJson,
  listJson,
  errorCode,
  postCapture,
  putControl,
  sandboxApp,
  withDataDir,
} from './helpers.ts';

describe('POST /v1/captures', () => {
  it('captures, records the capture durably and answers 201', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody({ amountMinor: '123456789012', currency: 'JPY' });
      const res = await postCapture(app, 'key-1', body);
      assert.equal(res.statusCode, 201);
      assert.equal(res.headers['idempotent-replayed'], undefined);
      const json = captureJson(res);
      assert.match(json.captureId, /^cap_[0-9a-f]{24}$/);
      assert.deepEqual(
        { ...json, captureId: undefined, createdAt: undefined },
        {
          captureId: undefined,
          createdAt: undefined,
          status: 'captured',
          amountMinor: '123456789012',
          currency: 'JPY',
          idempotencyKey: 'key-1',
        },
      );
      const records = await readCaptureRecord(dataDir);
      assert.equal(records.length, 1);
      assert.equal(records[0]?.amountMinor, 123456789012n);
      assert.equal(records[0]?.checkoutId, body.checkoutId);
      assert.equal(records[0]?.captureId, json.captureId);
      assert.equal(records[0]?.createdAt.toISOString(), json.createdAt);
      await app.close();
    }));

  it('answers a replayed key with the original result and never captures twice', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody();
      const first = await postCapture(app, 'key-r', body);
      const second = await postCapture(app, 'key-r', body);
      const third = await postCapture(app, 'key-r', body);
      assert.equal(first.statusCode, 201);
      for (const again of [second, third]) {
        assert.equal(again.statusCode, 200);
        assert.equal(again.headers['idempotent-replayed'], 'true');
        assert.deepEqual(captureJson(again), captureJson(first));
      }
      assert.equal((await readCaptureRecord(dataDir)).length, 1);
      await app.close();
    }));

  it('refuses a key reused with a different body (409) and keeps the original', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody();
      const first = await postCapture(app, 'key-c', body);
      for (const changed of [
        { ...body, amountMinor: '1300' },
        { ...body, currency: 'EUR' },
        { ...body, checkoutId: randomUUID() },
        { ...body, customerRef: 'someone-else' },
      ]) {
        const res = await postCapture(app, 'key-c', changed);
        assert.equal(res.statusCode, 409);
        assert.equal(errorCode(res), 'PSP_IDEMPOTENCY_CONFLICT');
      }
      const replay = await postCapture(app, 'key-c', body);
      assert.deepEqual(captureJson(replay), captureJson(first));
      assert.equal((await readCaptureRecord(dataDir)).length, 1);
      await app.close();
    }));

  it('decides declines from (seed, key) and the rate, and records them as results', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `order-${i}`);
    const run = (seed: string, declineRate: number) =>
      withDataDir(async (dataDir) => {
        const app = await sandboxApp({ dataDir, seed, faults: { declineRate } });
        const out = new Map<string, string>();
        for (const key of keys) {
          const res = await postCapture(app, key, captureBody());
          assert.equal(res.statusCode, 201);
          const json = captureJson(res);
          out.set(key, json.status === 'declined' ? String(json.declineCode) : `captured ${json.captureId}`);
        }
        await app.close();
        return out;
      });
    const a1 = await run('seed-a', 0.5);
    const a2 = await run('seed-a', 0.5);
    const b = await run('seed-b', 0.5);
    assert.deepEqual([...a1], [...a2], 'same seed, same declines, same capture ids');
    assert.notDeepEqual([...a1], [...b]);
    const declined = [...a1.values()].filter((v) => !v.startsWith('captured'));
    assert.ok(declined.length > 60 && declined.length < 140, `${declined.length} of 200 declined at 0.5`);
    for (const code of declined) assert.ok((DECLINE_CODES as readonly string[]).includes(code));
    assert.equal([...(await run('seed-a', 0)).values()].filter((v) => !v.startsWith('captured')).length, 0);
    assert.equal([...(await run('seed-a', 1)).values()].filter((v) => v.startsWith('captured')).length, 0);
  });

  it('keeps a declined key declined on replay, even after the decline rate drops', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { declineRate: 1 } });
      const body = captureBody();
      const first = await postCapture(app, 'key-d', body);
      assert.equal(captureJson(first).status, 'declined');
      assert.equal((await putControl(app, { declineRate: 0 })).statusCode, 200);
      const replay = await postCapture(app, 'key-d', body);
      assert.equal(replay.statusCode, 200);
      assert.deepEqual(captureJson(replay), captureJson(first));
      const [record] = await readCaptureRecord(dataDir);
      assert.equal(record?.status, 'declined');
      assert.equal(record?.declineCode, captureJson(first).declineCode);
      await app.close();
    }));
});

describe('control plane', () => {
  it('needs the control key, and is off without one', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      for (const url of ['/control', '/v1/captures']) {
        assert.equal(errorCode(await app.inject({ method: 'GET', url })), 'PSP_UNAUTHORIZED');
        const wrong = await app.inject({ method: 'GET', url, headers: { 'x-control-key': 'nope' } });
        assert.equal(wrong.statusCode, 401);
      }
      await app.close();
      const closed = await sandboxApp({ dataDir, controlKey: undefined });
      const res = await closed.inject({
        method: 'GET',
        url: '/control',
        headers: { 'x-control-key': CONTROL_KEY },
      });
      assert.equal(res.statusCode, 403);
      assert.equal(errorCode(res), 'PSP_CONTROL_DISABLED');
      await closed.close();
    }));

  it('changes only the named faults and rejects bad values', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir, faults: { latencyMs: 5 } });
      const res = await putControl(app, { declineRate: 0.25, outage: false });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(controlJson(res).faults, {
        declineRate: 0.25,
        errorRate: 0,
        errorAfterCaptureRate: 0,
        latencyMs: 5,
        outage: false,
      });
      assert.equal(controlJson(res).seed, 'test-seed');
      for (const bad of [
        { declineRate: 2 },
        { latencyMs: -1 },
        { latencyMs: 1.5 },
        { outage: 'yes' },
        { hang: true },
      ]) {
        const r = await putControl(app, bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
        assert.equal(errorCode(r), 'PSP_INVALID_REQUEST');
      }
      const state = await app.inject({
        method: 'GET',
        url: '/control',
        headers: { 'x-control-key': CONTROL_KEY },
      });
      assert.equal(controlJson(state).faults.declineRate, 0.25);
      await app.close();
    }));

  it('lists recorded captures with amounts as digit strings', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody({ amountMinor: '999' });
      await postCapture(app, 'list-1', body);
      const res = await app.inject({
        method: 'GET',
        url: '/v1/captures',
        headers: { 'x-control-key': CONTROL_KEY },
      });
      const [item] = listJson(res);
      assert.ok(item);
      assert.equal(item.amountMinor, '999');
      assert.equal(item.checkoutId, body.checkoutId);
      assert.equal(item.idempotencyKey, 'list-1');
      await app.close();
    }));
});

describe('metrics and health', () => {
  it('counts captures, declines, replays and errors', () =>
    withDataDir(async (dataDir) => {
      const app = await sandboxApp({ dataDir });
      const body = captureBody();
      await postCapture(app, 'm-1', body);
      await postCapture(app, 'm-1', body);
      await putControl(app, { declineRate: 1 });
      await postCapture(app, 'm-2', captureBody());
      await postCapture(app, undefined, captureBody());
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(text, /^psp_captures_total 1$/m);
      assert.match(text, /^psp_declines_total 1$/m);
      assert.match(text, /^psp_replays_total 1$/m);
      assert.match(text, /^psp_errors_total\{code="PSP_IDEMPOTENCY_KEY_MISSING"\} 1$/m);
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      const missing = await app.inject({ method: 'GET', url: '/nope' });
      assert.equal(missing.statusCode, 404);
      assert.equal(errorCode(missing), 'PSP_NOT_FOUND');
      await app.close();
    }));
});
