// The HTTP adapter against the real sandbox process: outcomes map to
// CaptureResult, failures to ProviderError with the right retry decision.

// node:test's describe/it return promises that the runner itself awaits.

import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCaptureRecord } from '../../src/psp/captureRecord.ts';
import { HttpProvider } from '../../src/psp/httpProvider.ts';
import { ProviderError, type CaptureRequest } from '../../src/psp/Provider.ts';
import { SandboxControl } from '../../src/psp/sandboxControl.ts';
import { startSandboxProcess, type SandboxProcess } from '../../src/psp/sandboxProcess.ts';
import { NO_FAULTS } from '../../src/psp/faults.ts';
import { freePort } from '../../src/stack/freePort.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { CONTROL_KEY } from './helpers.ts';

function request(overrides: Partial<CaptureRequest> = {}): CaptureRequest {
  return {
    idempotencyKey: `checkout-${randomUUID()}`,
    checkoutId: randomUUID(),
    creatorId: randomUUID(),
    customerRef: 'cus_http',
    amountMinor: 4200n,
    currency: 'EUR',
    ...overrides,
  };
}

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the capture to fail');
}

describe('HttpProvider against the sandbox process', () => {
  let dataDir: string;
  let sandbox: SandboxProcess;
  let control: SandboxControl;
  let provider: HttpProvider;

  // One process for the file (start-up is the slow part); faults are reset before each test.
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'firebreak-psp-http-'));
    sandbox = await startSandboxProcess({ dataDir, controlKey: CONTROL_KEY, seed: 'http' });
    control = new SandboxControl(sandbox.baseUrl, CONTROL_KEY);
    provider = new HttpProvider({ baseUrl: sandbox.baseUrl, timeoutMs: 2_000 });
  });
  after(async () => {
    await sandbox.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await control.setFaults(NO_FAULTS);
  });

  it('maps a capture, and the same key again to the same capture', async () => {
    const req = request();
    const result = await provider.capture(req);
    assert.equal(result.outcome, 'captured');
    assert.match(result.captureId, /^cap_/);
    assert.deepEqual(await provider.capture(req), result);
    const records = (await readCaptureRecord(dataDir)).filter((r) => r.idempotencyKey === req.idempotencyKey);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.amountMinor, 4200n);
  });

  it('maps a decline, with its code and capture id', async () => {
    await control.setFaults({ declineRate: 1 });
    const result = await provider.capture(request());
    assert.equal(result.outcome, 'declined');
    assert.ok(result.outcome === 'declined' && result.declineCode.length > 0);
  });

  it('throws retryable PSP_TRANSIENT on an injected error', async () => {
    await control.setFaults({ errorRate: 1 });
    const err = await providerError(provider.capture(request()));
    assert.deepEqual([err.code, err.statusCode, err.retryable], ['PSP_TRANSIENT', 500, true]);
  });

  it('after an error-after-capture, the retry with the key returns the capture that happened', async () => {
    await control.setFaults({ errorAfterCaptureRate: 1 });
    const req = request();
    const err = await providerError(provider.capture(req));
    assert.equal(err.retryable, true);
    const result = await provider.capture(req);
    assert.equal(result.outcome, 'captured');
    const listed = (await control.listCaptures()).filter((c) => c.idempotencyKey === req.idempotencyKey);
    assert.deepEqual(
      listed.map((c) => c.captureId),
      [result.captureId],
    );
  });

  it('throws retryable PSP_UNAVAILABLE during an outage', async () => {
    await control.setFaults({ outage: true });
    const err = await providerError(provider.capture(request()));
    assert.deepEqual([err.code, err.statusCode, err.retryable], ['PSP_UNAVAILABLE', 503, true]);
  });

  it('times out as retryable PSP_TIMEOUT, and the retry finds the capture the slow call made', async () => {
    await control.setFaults({ latencyMs: 1_000 });
    const req = request();
    const impatient = new HttpProvider({ baseUrl: sandbox.baseUrl, timeoutMs: 200 });
    const err = await providerError(impatient.capture(req));
    assert.deepEqual([err.code, err.retryable], ['PSP_TIMEOUT', true]);
    // The sandbox went on to capture after the client gave up: the money moved.
    const capture = await waitFor('the abandoned capture', async () =>
      (await control.listCaptures()).find((c) => c.idempotencyKey === req.idempotencyKey),
    );
    await control.setFaults({ latencyMs: 0 });
    assert.deepEqual(await impatient.capture(req), { outcome: 'captured', captureId: capture.captureId });
  });

  it('throws non-retryable PSP_IDEMPOTENCY_CONFLICT for a key reused with another amount', async () => {
    const req = request();
    await provider.capture(req);
    const err = await providerError(provider.capture({ ...req, amountMinor: 4201n }));
    assert.deepEqual([err.code, err.statusCode, err.retryable], ['PSP_IDEMPOTENCY_CONFLICT', 409, false]);
  });

  it('throws non-retryable PSP_INVALID_REQUEST for a request the provider refuses', async () => {
    for (const bad of [
      request({ amountMinor: 0n }),
      request({ currency: 'XYZ' }),
      request({ checkoutId: 'nope' }),
    ]) {
      const err = await providerError(provider.capture(bad));
      assert.deepEqual([err.code, err.statusCode, err.retryable], ['PSP_INVALID_REQUEST', 400, false]);
    }
  });
});

describe('HttpProvider transport and protocol failures', () => {
  it('throws retryable PSP_NETWORK when nothing listens', async () => {
    const port = await freePort();
    const provider = new HttpProvider({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000 });
    const err = await providerError(provider.capture(request()));
    assert.deepEqual([err.code, err.statusCode, err.retryable], ['PSP_NETWORK', undefined, true]);
  });

  const answering = (status: number, body: string, contentType = 'application/json') =>
    new HttpProvider({
      baseUrl: 'http://psp.invalid',
      fetch: () => Promise.resolve(new Response(body, { status, headers: { 'content-type': contentType } })),
    });

  it('decides retry from the status when the body is not the provider’s', async () => {
    const cases: [number, boolean][] = [
      [502, true],
      [504, true],
      [429, true],
      [408, true],
      [400, false],
      [401, false],
      [404, false],
      [422, false],
    ];
    for (const [status, retryable] of cases) {
      const err = await providerError(
        answering(status, '<html>bad gateway</html>', 'text/html').capture(request()),
      );
      assert.deepEqual([err.code, err.statusCode, err.retryable], [`PSP_HTTP_${status}`, status, retryable]);
    }
  });

  it('refuses an unreadable success, and one that answers for another request', async () => {
    const req = request();
    const good = {
      captureId: 'cap_1',
      status: 'captured',
      amountMinor: '4200',
      currency: 'EUR',
      idempotencyKey: req.idempotencyKey,
      createdAt: new Date().toISOString(),
    };
    const notJson = await providerError(answering(201, 'ok').capture(req));
    assert.deepEqual([notJson.code, notJson.retryable], ['PSP_BAD_RESPONSE', false]);
    const declinedNoCode = await providerError(
      answering(201, JSON.stringify({ ...good, status: 'declined' })).capture(req),
    );
    assert.equal(declinedNoCode.code, 'PSP_BAD_RESPONSE');
    for (const wrong of [{ amountMinor: '4201' }, { currency: 'USD' }, { idempotencyKey: 'other' }]) {
      const err = await providerError(answering(200, JSON.stringify({ ...good, ...wrong })).capture(req));
      assert.deepEqual([err.code, err.retryable], ['PSP_MISMATCH', false]);
    }
    assert.deepEqual(await answering(200, JSON.stringify(good)).capture(req), {
      outcome: 'captured',
      captureId: 'cap_1',
    });
  });

  it('rejects a timeout that is not a positive integer', () => {
    assert.throws(() => new HttpProvider({ baseUrl: 'http://x', timeoutMs: 0 }), RangeError);
  });
});
