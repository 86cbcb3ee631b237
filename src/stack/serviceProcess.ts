// Runs a Firebreak service (api, worker, psp) as a real child process — the
// things a drill kills must be real processes. The child reports readiness
// over an IPC channel ({ type: 'ready', ...ports }); its stdout and stderr go
// to a log file so a failed drill can be read afterwards.

import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

export interface ServiceSpec {
  readonly name: string;
  /** Path of the entry module (a .ts file run directly by Node 24). */
  readonly entry: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  readonly readyTimeoutMs?: number;
  /**
   * Environment variables that choose the ports named in the ready message,
   * e.g. { port: 'API_PORT', adminPort: 'API_ADMIN_PORT' }. After the first
   * start, a restart asks for the same ports again, so whoever holds the
   * service's address (another service, a client, a scraper) keeps it, as a
   * Kubernetes Service keeps a restarted pod's address.
   */
  readonly portEnv?: Readonly<Record<string, string>>;
}

/** How a service process ended. */
export interface ServiceExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when stop() or kill() asked for it. */
  readonly requested: boolean;
}

export interface ReadyMessage {
  readonly type: 'ready';
  readonly [key: string]: unknown;
}

export class ServiceProcess {
  readonly spec: ServiceSpec;
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private readyInfo: ReadyMessage | undefined;
  private readonly exitListeners = new Set<(exit: ServiceExit) => void>();
  private stopping = false;

  constructor(spec: ServiceSpec) {
    this.spec = spec;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get ready(): ReadyMessage {
    if (!this.readyInfo) throw new Error(`${this.spec.name} is not ready`);
    return this.readyInfo;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Called on every exit of the process, asked for or not (a supervisor restarts on the others). */
  onExit(listener: (exit: ServiceExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** The ports of the last ready message, as the env vars of spec.portEnv. */
  private pinnedPorts(): Record<string, string> {
    const pinned: Record<string, string> = {};
    for (const [key, envVar] of Object.entries(this.spec.portEnv ?? {})) {
      const port = this.readyInfo?.[key];
      if (typeof port === 'number') pinned[envVar] = String(port);
    }
    return pinned;
  }

  /** Starts the process and resolves with its ready message. */
  async start(): Promise<ReadyMessage> {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    this.log ??= createWriteStream(this.spec.logFile, { flags: 'a' });
    const child = fork(this.spec.entry, [], {
      env: { ...minimalEnv(), ...this.spec.env, ...this.pinnedPorts() },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: ['--disable-warning=ExperimentalWarning'],
    });
    this.child = child;
    this.stopping = false;
    child.once('exit', (code, signal) => {
      const exit = { code, signal, requested: this.stopping };
      for (const listener of this.exitListeners) listener(exit);
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    const timeoutMs = this.spec.readyTimeoutMs ?? 30_000;
    const ready = await new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(
          new Error(
            `${this.spec.name} did not report ready within ${timeoutMs} ms; see ${this.spec.logFile}`,
          ),
        );
      }, timeoutMs);
      const onMessage = (msg: unknown) => {
        if (typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'ready') {
          cleanup();
          resolve(msg as ReadyMessage);
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(
          new Error(
            `${this.spec.name} exited before it was ready (code ${code}, signal ${signal}); see ${this.spec.logFile}`,
          ),
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
    this.readyInfo = ready;
    return ready;
  }

  /** SIGKILL: no cleanup, no goodbye — a crash. Resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL', 10_000);
  }

  /** SIGTERM and wait for a graceful exit (SIGKILL after the grace period). */
  async stop(graceMs = 10_000): Promise<void> {
    await this.signal('SIGTERM', graceMs);
    this.log?.end();
    this.log = undefined;
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const exited = once(child, 'exit');
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Children get PATH and HOME, not the parent's secrets. */
function minimalEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS'];
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : [])));
}
