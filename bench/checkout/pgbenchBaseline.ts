// The machine's own yardstick: pgbench's built-in TPC-B-like script against a
// fresh embedded Postgres 18 server (same binaries, same settings as the
// stack's servers, including fsync=off), so "settled checkouts per second" can
// be read as a fraction of what plain Postgres does here, in the same run.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PostgresServer } from '../../src/stack/postgresServer.ts';

export const PGBENCH = process.env.PGBENCH ?? 'pgbench';
export const PGBENCH_INSTALL_HINT =
  'pgbench not found; install it with `apt-get install postgresql-client` (Debian/Ubuntu) or set PGBENCH=/path/to/pgbench';

export interface PgbenchOptions {
  readonly scale: number;
  readonly clients: number;
  readonly threads: number;
  readonly durationSec: number;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Called around the timed run (not the initialisation), e.g. to account its CPU. */
  readonly onRunStart?: (server: PostgresServer) => void;
  readonly onRunEnd?: (server: PostgresServer) => void;
  /** Called once the server runs, so an interrupt can remove it. */
  readonly onServer?: (server: PostgresServer) => void;
}

export type PgbenchResult =
  | {
      readonly ran: true;
      readonly tps: number;
      readonly latencyAvgMs: number | null;
      readonly transactions: number | null;
      readonly pgbenchVersion: string;
      readonly command: string;
    }
  | { readonly ran: false; readonly reason: string };

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(
  args: readonly string[],
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<Exit> {
  if (signal?.aborted) throw new Error('interrupted before pgbench started');
  const child = spawn(PGBENCH, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const kill = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', kill, { once: true });
  try {
    const [code] = (await Promise.race([
      once(child, 'close'),
      once(child, 'error').then(([err]) => Promise.reject(err as Error)),
    ])) as [number | null];
    return { code, stdout, stderr };
  } finally {
    signal?.removeEventListener('abort', kill);
  }
}

/** pgbench's version line, or null when it is not installed. */
export async function pgbenchVersion(): Promise<string | null> {
  try {
    const { code, stdout } = await run(['--version'], {});
    return code === 0 ? stdout.trim() : null;
  } catch {
    return null;
  }
}

export async function runPgbench(o: PgbenchOptions): Promise<PgbenchResult> {
  const version = await pgbenchVersion();
  if (version === null) return { ran: false, reason: PGBENCH_INSTALL_HINT };

  o.progress('pgbench: starting a fresh Postgres server');
  const server = await PostgresServer.start({ name: 'bench-pgbench' });
  try {
    o.onServer?.(server);
    await server.createDatabase('pgbench');
    const url = new URL(server.url('pgbench'));
    const env = {
      PGHOST: url.hostname,
      PGPORT: url.port,
      PGUSER: decodeURIComponent(url.username),
      PGPASSWORD: decodeURIComponent(url.password),
      PGDATABASE: 'pgbench',
    };
    o.progress(`pgbench: initialising (-i -s ${o.scale})`);
    const init = await run(['-i', '-q', '-s', String(o.scale)], env, o.signal);
    if (init.code !== 0)
      throw new Error(`pgbench -i failed (exit ${init.code}): ${init.stderr.slice(-2000)}`);

    const args = ['-c', String(o.clients), '-j', String(o.threads), '-T', String(o.durationSec)];
    o.progress(`pgbench: running TPC-B (${args.join(' ')})`);
    o.onRunStart?.(server);
    const bench = await run(args, env, o.signal);
    o.onRunEnd?.(server);
    if (bench.code !== 0)
      throw new Error(`pgbench failed (exit ${bench.code}): ${bench.stderr.slice(-2000)}`);
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(bench.stdout)?.[1];
    if (tps === undefined) throw new Error(`could not read tps from pgbench's output:\n${bench.stdout}`);
    const latency = /latency average = ([\d.]+) ms/.exec(bench.stdout)?.[1];
    const transactions = /number of transactions actually processed: (\d+)/.exec(bench.stdout)?.[1];
    return {
      ran: true,
      tps: Number(tps),
      latencyAvgMs: latency === undefined ? null : Number(latency),
      transactions: transactions === undefined ? null : Number(transactions),
      pgbenchVersion: version,
      command: `pgbench -i -s ${o.scale}; pgbench ${args.join(' ')}`,
    };
  } finally {
    await server.destroy();
  }
}
