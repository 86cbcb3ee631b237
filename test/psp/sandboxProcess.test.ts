// The sandbox as a real process: ready over IPC, clean exit on SIGTERM, and
// no acknowledged capture lost to a SIGKILL.

// node:test's describe/it return promises that the runner itself awaits.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile } from 'node:fs/promises';
import { captureFilePath, readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { SandboxControl } from '../../src/psp/sandboxControl.ts';
import { startSandboxProcess } from '../../src/psp/sandboxProcess.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { CONTROL_KEY, captureBody, sandboxProcess, withDataDir, type CaptureBody } from './helpers.ts';

async function post(baseUrl: string, key: string, body: CaptureBody) {
  const res = await fetch(`${baseUrl}/v1/captures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    json: (await res.json()) as Record<string, string>,
  };
}

describe('sandbox process', () => {
  it('reports ready over IPC, takes its faults from the environment and exits 0 on SIGTERM', () =>
    withDataDir(async (dataDir) => {
      const proc = await sandboxProcess({ dataDir, seed: 'p1', env: { PSP_DECLINE_RATE: '1' } });
      assert.ok(proc.port > 0);
      const state = await new SandboxControl(proc.baseUrl, CONTROL_KEY).state();
      assert.equal(state.faults.declineRate, 1);
      assert.equal(state.seed, 'p1');
      const res = await post(proc.baseUrl, 'env-1', captureBody());
      assert.equal(res.json.status, 'declined');
      assert.deepEqual(await proc.stop('SIGTERM'), { code: 0, signal: null });
      assert.match(proc.output(), /sandbox provider listening/);
      assert.match(proc.output(), /sandbox provider stopped/);
    }));

  it('stops by itself when the parent that started it goes away', () =>
    withDataDir(async (dataDir) => {
      const proc = await sandboxProcess({ dataDir });
      proc.child.disconnect();
      await waitFor('the orphaned sandbox to exit', () => proc.child.exitCode !== null, {
        timeoutMs: 10_000,
      });
      assert.equal(proc.child.exitCode, 0, proc.output());
      assert.match(proc.output(), /parent disconnected/);
    }));

  it('refuses to start on bad configuration, naming the variable', () =>
    withDataDir(async (dataDir) => {
      await assert.rejects(
        startSandboxProcess({ dataDir, env: { PSP_ERROR_RATE: '1.5' } }),
        /exited before it was ready \(code 2[\s\S]*PSP_ERROR_RATE must be a number between 0 and 1/,
      );
    }));

  it('keeps every acknowledged capture through a SIGKILL, and replays return the originals', () =>
    withDataDir(async (dataDir) => {
      const first = await sandboxProcess({ dataDir, seed: 'crash', env: { PSP_DECLINE_RATE: '0.3' } });
      const bodies = new Map<string, CaptureBody>();
      const acknowledged = new Map<string, Record<string, string>>();
      // Four clients capturing in a loop, killed in the middle: whatever was acknowledged must survive.
      let next = 0;
      let killed = false;
      const clients = Array.from({ length: 4 }, async () => {
        while (!killed) {
          const key = `crash-${next++}`;
          const body = captureBody({ amountMinor: String(1000 + next) });
          bodies.set(key, body);
          try {
            const res = await post(first.baseUrl, key, body);
            if (res.status === 201) acknowledged.set(key, res.json);
          } catch {
            // Killed before it answered: the client does not know, which is allowed.
          }
        }
      });
      await waitFor('40 acknowledged captures', () => acknowledged.size >= 40, { intervalMs: 1 });
      assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');
      killed = true;
      await Promise.all(clients);

      const second = await sandboxProcess({ dataDir, seed: 'crash' });
      const recorded = new Map((await readCaptureRecord(dataDir)).map((r) => [r.idempotencyKey, r]));
      for (const [key, original] of acknowledged) {
        assert.equal(recorded.get(key)?.captureId, original.captureId, `${key} survived`);
        assert.equal(recorded.get(key)?.amountMinor, BigInt(original.amountMinor ?? ''));
        const replay = await post(second.baseUrl, key, bodies.get(key) as CaptureBody);
        assert.equal(replay.status, 200);
        assert.equal(replay.replayed, 'true');
        assert.deepEqual(replay.json, original);
      }
      const listed = await new SandboxControl(second.baseUrl, CONTROL_KEY).listCaptures();
      assert.equal(listed.length, recorded.size);
      assert.ok(acknowledged.size >= 40 && recorded.size >= acknowledged.size);
      await second.stop();
    }));

  it('starts on a file with a torn last line and appends after it cleanly', () =>
    withDataDir(async (dataDir) => {
      const first = await sandboxProcess({ dataDir });
      const body = captureBody();
      const original = await post(first.baseUrl, 'torn-1', body);
      await first.stop('SIGKILL');
      await appendFile(captureFilePath(dataDir), '{"v":1,"captureId":"cap_half');

      const second = await sandboxProcess({ dataDir });
      assert.match(second.output(), /torn line/);
      assert.deepEqual((await post(second.baseUrl, 'torn-1', body)).json, original.json);
      assert.equal((await post(second.baseUrl, 'torn-2', captureBody())).status, 201);
      await second.stop();
      assert.deepEqual(
        (await readCaptureRecord(dataDir)).map((r) => r.idempotencyKey),
        ['torn-1', 'torn-2'],
      );
      assert.ok((await readFile(captureFilePath(dataDir), 'utf8')).endsWith('\n'));
    }));
});
