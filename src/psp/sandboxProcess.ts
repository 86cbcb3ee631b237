// Starts the sandbox provider as a real child process (node src/psp/main.ts)
// and waits for its IPC 'ready' message: for tests, drills and the local stack.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SandboxReadyMessage } from './main.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
/** Start-up is a file read and a listen; ten seconds means something is wrong. */
const DEFAULT_READY_TIMEOUT_MS = 10_000;
/** Output kept for error messages; the tail is what explains a failure. */
const OUTPUT_TAIL_BYTES = 64 * 1024;

export interface StartSandboxOptions {
  readonly dataDir: string;
  readonly seed?: string;
  readonly controlKey?: string;
  /** Extra PSP_* variables (e.g. PSP_DECLINE_RATE), passed as they are. */
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
}

export interface SandboxProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  /** What the process has printed so far (the last 64 KiB). */
  output(): string;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves with the exit code or signal once it is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startSandboxProcess(options: StartSandboxOptions): Promise<SandboxProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PSP_PORT: '0',
    PSP_DATA_DIR: options.dataDir,
    ...(options.seed === undefined ? {} : { PSP_SEED: options.seed }),
    ...(options.controlKey === undefined ? {} : { PSP_CONTROL_KEY: options.controlKey }),
    ...options.env,
  };
  // execArgv: [] so a parent running under --test or --inspect does not pass those on.
  const child = fork(MAIN, [], { env, execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  return new Promise<SandboxProcess>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      cleanup();
      reject(new Error(`sandbox was not ready within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onMessage = (message: unknown) => {
      const ready = message as Partial<SandboxReadyMessage> | null;
      if (ready?.type !== 'ready' || typeof ready.port !== 'number') return;
      cleanup();
      const { port } = ready;
      resolve({
        child,
        pid: child.pid ?? -1,
        port,
        baseUrl: `http://127.0.0.1:${port}`,
        output: () => output,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(
        new Error(`sandbox exited before it was ready (code ${code}, signal ${signal}); output:\n${output}`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
