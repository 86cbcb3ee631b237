// Shared set-up for the sandbox provider's tests: throwaway data directories
// (kept when a test fails, for inspection), apps and processes that must not
// outlive their test, and request builders.

import { afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SandboxCaptureListItem, SandboxControlState } from '../../src/psp/sandboxControl.ts';
import {
  buildSandboxApp,
  type CaptureResponseBody,
  type SandboxApp,
  type SandboxOptions,
} from '../../src/psp/sandboxServer.ts';
import {
  startSandboxProcess,
  type SandboxProcess,
  type StartSandboxOptions,
} from '../../src/psp/sandboxProcess.ts';

export const CONTROL_KEY = 'test-control-key';

const running = new Set<{ name: string; stop: () => Promise<unknown> }>();

// A server or process left running by a test is a leak that makes the next
// test's results meaningless: fail loudly, then clean up.
afterEach(async () => {
  const leftovers = [...running];
  running.clear();
  for (const r of leftovers) await r.stop();
  assert.deepEqual(
    leftovers.map((r) => r.name),
    [],
    'a test left sandboxes running',
  );
});

/** Runs fn with a fresh data directory, removed only if fn succeeds. */
export async function withDataDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-psp-'));
  try {
    const result = await fn(dir);
    await rm(dir, { recursive: true, force: true });
    return result;
  } catch (err) {
    console.error(`keeping ${dir} for inspection`);
    throw err;
  }
}

/** A sandbox app, tracked until its close(). */
export async function sandboxApp(options: SandboxOptions): Promise<SandboxApp> {
  const app = await buildSandboxApp({ seed: 'test-seed', controlKey: CONTROL_KEY, ...options });
  const entry = { name: `app ${options.dataDir}`, stop: () => app.close() };
  running.add(entry);
  app.addHook('onClose', (_instance, done) => {
    running.delete(entry);
    done();
  });
  return app;
}

/** A sandbox process, tracked until it exits. */
export async function sandboxProcess(options: StartSandboxOptions): Promise<SandboxProcess> {
  const proc = await startSandboxProcess({ controlKey: CONTROL_KEY, ...options });
  const entry = { name: `process ${proc.pid}`, stop: () => proc.stop('SIGKILL') };
  running.add(entry);
  proc.child.once('exit', () => running.delete(entry));
  return proc;
}

export interface CaptureBody {
  checkoutId: string;
  creatorId: string;
  customerRef: string;
  amountMinor: string;
  currency: string;
}

export function captureBody(overrides: Partial<CaptureBody> = {}): CaptureBody {
  return {
    checkoutId: randomUUID(),
    creatorId: randomUUID(),
    customerRef: 'cus_test',
    amountMinor: '1299',
    currency: 'USD',
    ...overrides,
  };
}

export function postCapture(app: SandboxApp, key: string | undefined, body: unknown) {
  return app.inject({
    method: 'POST',
    url: '/v1/captures',
    headers: key === undefined ? {} : { 'idempotency-key': key },
    payload: body as object,
  });
}

export function putControl(app: SandboxApp, patch: unknown) {
  return app.inject({
    method: 'PUT',
    url: '/control',
    headers: { 'x-control-key': CONTROL_KEY },
    payload: patch as object,
  });
}

interface Injected {
  json: () => unknown;
}

export function captureJson(response: Injected): CaptureResponseBody {
  return response.json() as CaptureResponseBody;
}

export function errorJson(response: Injected): { code?: string; message?: string; field?: string } {
  return (response.json() as { error?: { code?: string } }).error ?? {};
}

export function errorCode(response: Injected): string | undefined {
  return errorJson(response).code;
}

export function controlJson(response: Injected): SandboxControlState {
  return response.json() as SandboxControlState;
}

export function listJson(response: Injected): SandboxCaptureListItem[] {
  return (response.json() as { captures: SandboxCaptureListItem[] }).captures;
}
