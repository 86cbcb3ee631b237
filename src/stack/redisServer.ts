// A throwaway Redis server for tests and drills: Debian's redis-server binary
// (`apt-get install redis-server`) on a free loopback port, nothing on disk.
// The pre-started Redis on 6379 is never used: tests and drills own theirs.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fbError } from '../errors/index.ts';
import { forgetOnExit, killOnExit, signalAndWait } from './childServers.ts';
import { freePort } from './freePort.ts';

export interface RedisServerOptions {
  readonly name: string;
  readonly port?: number;
  /** The redis-server binary (default: REDIS_SERVER env var, else `redis-server` on PATH). */
  readonly binary?: string;
  /** Receives the server's log lines (default: dropped). */
  readonly onLog?: (line: string) => void;
}

const READY = /Ready to accept connections/;

export class RedisServer {
  readonly name: string;
  readonly port: number;
  readonly root: string;
  private readonly binary: string;
  private readonly onLog: (line: string) => void;
  private process: ChildProcess | undefined;

  private constructor(options: RedisServerOptions, port: number, root: string) {
    this.name = options.name;
    this.port = port;
    this.root = root;
    this.binary = options.binary ?? process.env.REDIS_SERVER ?? 'redis-server';
    this.onLog = options.onLog ?? (() => {});
  }

  static async start(options: RedisServerOptions): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const root = await mkdtemp(join(tmpdir(), `firebreak-redis-${options.name}-`));
    const server = new RedisServer(options, port, root);
    try {
      await server.resume();
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get isRunning(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Starts (or restarts after stop/kill) the server on the same port. Data does not survive a restart. */
  async resume(): Promise<void> {
    if (this.isRunning) return;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.root,
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.onLog(text);
        if (output.length < 20_000) output += text;
        if (READY.test(output)) {
          child.off('close', onClose);
          child.off('error', onError);
          resolve();
        }
      };
      const onClose = (code: number | null) =>
        reject(
          new Error(`redis-server ${this.name} exited while starting (exit ${code}): ${output.slice(-2000)}`),
        );
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? fbError(
                'FB_DEPENDENCY_MISSING',
                `redis-server was not found (${this.binary}). Install it with "apt-get install redis-server" or set REDIS_SERVER to its path.`,
              )
            : err,
        );
      child.stdout.on('data', onData);
      child.once('close', onClose);
      child.once('error', onError);
    });
    child.stdout.removeAllListeners('data');
    child.stdout.on('data', (chunk: Buffer) => this.onLog(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => this.onLog(chunk.toString()));
    killOnExit(this);
  }

  /** SIGKILL, as a crashed host would. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Graceful shutdown (SIGTERM). */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    forgetOnExit(this);
    await signalAndWait(this.process, sig);
  }

  killSync(): void {
    if (this.isRunning) this.process?.kill('SIGKILL');
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await rm(this.root, { recursive: true, force: true });
    }
  }
}
