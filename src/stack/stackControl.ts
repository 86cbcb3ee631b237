// The commands' side of a `firebreak up` stack: start its supervisor and
// wait until the stack is up (or restored and verified), and take it down.
// The CLI (src/cli/stackCommands.ts), the tests and the bench call these.

import { fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { fbError, type ErrorCode } from '../errors/index.ts';
import { waitFor } from '../util/waitFor.ts';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restartPolicy.ts';
import { prepareRestore } from './snapshot/restoreSnapshot.ts';
import type { Manifest } from './snapshot/manifest.ts';
import { isSameProcessAlive, readState, STATE_FILE, type StackState } from './stackState.ts';
import type { SupervisorConfig } from './supervisor.ts';

export interface UpOptions {
  readonly stateDir: string;
  readonly environment?: string;
  readonly seed?: string;
  readonly creators?: number;
  readonly ledgerStandby?: boolean;
  readonly redis?: boolean;
  readonly eventBus?: 'auto' | 'kafka' | 'file';
  readonly restartPolicy?: RestartPolicy;
  readonly onProgress?: (message: string) => void;
  /** How long to wait for the stack (default 10 min: a restore recovers its stores first). */
  readonly timeoutMs?: number;
}

const SUPERVISOR = fileURLToPath(new URL('./supervisorMain.ts', import.meta.url));
const KEEP_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS', 'REDIS_SERVER'];

/** Refuses when the state directory already records a stack (running, or dead with leftovers). */
async function assertNoStack(stateDir: string): Promise<void> {
  const state = await readState(stateDir);
  if (!state) return;
  const alive = isSameProcessAlive(state.supervisor);
  throw fbError(
    'FB_STACK_RUNNING',
    alive
      ? `a stack is already up in ${stateDir} (supervisor pid ${state.supervisor.pid}). Run "firebreak down" first, or use another --state-dir.`
      : `${stateDir} records a stack whose supervisor (pid ${state.supervisor.pid}) is gone. Run "firebreak down" to clean it up.`,
  );
}

async function logTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).slice(-5).join('\n');
}

async function launch(config: SupervisorConfig, o: UpOptions): Promise<StackState> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o755 });
  const logPath = join(config.stateDir, 'supervisor.log');
  const fd = openSync(logPath, 'a', 0o600);
  const env = Object.fromEntries(KEEP_ENV.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
  const child = fork(SUPERVISOR, [], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env,
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  closeSync(fd);
  // Ctrl-C while the stack boots stops the half-built stack too (the supervisor is in its own session).
  const interrupt = () => child.kill('SIGTERM');
  process.once('SIGINT', interrupt);
  try {
    return await new Promise<StackState>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(
          fbError(
            'FB_STACK_START_FAILED',
            `the stack did not come up within ${o.timeoutMs ?? 600_000} ms; see ${logPath}`,
          ),
        );
      }, o.timeoutMs ?? 600_000);
      child.on('message', (m: { type?: string; message?: string; code?: string; state?: StackState }) => {
        if (m.type === 'progress' && m.message) o.onProgress?.(m.message);
        if (m.type === 'ready' && m.state) {
          clearTimeout(timer);
          resolve(m.state);
        }
        if (m.type === 'failed') {
          clearTimeout(timer);
          reject(
            fbError((m.code ?? 'FB_STACK_START_FAILED') as ErrorCode, m.message ?? 'the stack did not start'),
          );
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        void logTail(logPath).then((tail) =>
          reject(
            fbError(
              'FB_STACK_START_FAILED',
              `the supervisor exited before the stack was up (code ${code}, signal ${signal})${tail ? `; its last log lines:\n${tail}` : ''}`,
            ),
          ),
        );
      });
      child.send({ type: 'config', config });
    });
  } finally {
    process.off('SIGINT', interrupt);
    if (child.connected) child.disconnect();
    child.unref();
  }
}

function supervisorConfig(o: UpOptions): SupervisorConfig {
  return {
    stateDir: o.stateDir,
    environment: o.environment ?? 'staging',
    seed: o.seed ?? randomBytes(16).toString('hex'),
    creators: o.creators ?? 5,
    ledgerStandby: o.ledgerStandby ?? true,
    redis: o.redis ?? false,
    eventBus: o.eventBus ?? 'auto',
    restartPolicy: o.restartPolicy ?? DEFAULT_RESTART_POLICY,
  };
}

/** `firebreak up`: starts a stack that keeps running after this returns. */
export async function stackUp(o: UpOptions): Promise<StackState> {
  await assertNoStack(o.stateDir);
  try {
    return await launch(supervisorConfig(o), o);
  } catch (err) {
    await rm(o.stateDir, { recursive: true, force: true });
    throw err;
  }
}

export interface RestoreResult {
  readonly state: StackState;
  readonly manifest: Manifest;
  readonly timings: Record<string, number>;
}

/** `firebreak restore`: a fresh stack from a snapshot, verified; nothing is left behind if any check fails. */
export async function stackRestore(
  o: Omit<UpOptions, 'seed' | 'creators' | 'environment'> & {
    readonly snapshotDir: string;
    readonly key: Buffer;
    /** Where the restored servers' directories go (default: the OS temp directory). */
    readonly serverParentDir?: string;
  },
): Promise<RestoreResult> {
  await assertNoStack(o.stateDir);
  const t0 = performance.now();
  let discard: (() => Promise<void>) | undefined;
  try {
    await mkdir(o.stateDir, { recursive: true, mode: 0o755 });
    const prepared = await prepareRestore({
      snapshotDir: o.snapshotDir,
      key: o.key,
      pspDir: join(o.stateDir, 'work', 'psp'),
      serverParentDir: o.serverParentDir,
      onProgress: o.onProgress,
    });
    discard = prepared.discard;
    const s = prepared.settings;
    const t1 = performance.now();
    const state = await launch(
      {
        ...supervisorConfig({
          ...o,
          environment: s.environment,
          seed: s.seed,
          creators: s.creators,
          ledgerStandby: o.ledgerStandby ?? s.ledgerStandby,
          redis: o.redis ?? s.redis,
        }),
        restore: {
          snapshot: o.snapshotDir,
          ledgerRoot: prepared.ledgerRoot,
          queueRoot: prepared.queueRoot,
          stores: prepared.manifest.stores,
        },
      },
      o,
    );
    const timings = {
      ...prepared.timings,
      startAndVerifyMs: Math.round(performance.now() - t1),
      totalMs: Math.round(performance.now() - t0),
    };
    return { state, manifest: prepared.manifest, timings };
  } catch (err) {
    await discard?.();
    await rm(o.stateDir, { recursive: true, force: true });
    throw err;
  }
}

export interface DownReport {
  readonly found: boolean;
  readonly supervisorPid: number | null;
  /** Recorded processes still alive after the supervisor was gone, killed here. */
  readonly killed: readonly { name: string; pid: number }[];
  readonly removed: readonly string[];
}

/** `firebreak down`: stops and removes everything the stack created. Safe to run twice. */
export async function stackDown(stateDir: string, { timeoutMs = 60_000 } = {}): Promise<DownReport> {
  const state = await readState(stateDir);
  if (!state) {
    await rm(join(stateDir, STATE_FILE), { force: true });
    return { found: false, supervisorPid: null, killed: [], removed: [] };
  }
  if (isSameProcessAlive(state.supervisor)) {
    process.kill(state.supervisor.pid, 'SIGTERM');
    await waitFor('the supervisor to stop the stack', () => !isSameProcessAlive(state.supervisor), {
      timeoutMs,
      intervalMs: 50,
    }).catch(() => process.kill(state.supervisor.pid, 'SIGKILL'));
  }
  // Whatever outlived the supervisor (it was SIGKILLed, or its shutdown failed): only processes
  // that still have the start time recorded with their pid.
  const killed: { name: string; pid: number }[] = [];
  for (const c of state.components) {
    if (c.proc && c.proc.pid !== state.supervisor.pid && isSameProcessAlive(c.proc)) {
      process.kill(c.proc.pid, 'SIGKILL');
      killed.push({ name: c.name, pid: c.proc.pid });
    }
  }
  for (const k of killed)
    await waitFor(
      `${k.name} (pid ${k.pid}) to exit`,
      () => {
        const c = state.components.find((x) => x.name === k.name)!;
        return !isSameProcessAlive(c.proc);
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    ).catch(() => {});
  const removed = [...state.dirs, stateDir];
  for (const dir of removed) await rm(dir, { recursive: true, force: true });
  return { found: true, supervisorPid: state.supervisor.pid, killed, removed };
}
