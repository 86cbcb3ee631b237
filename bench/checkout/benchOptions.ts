// The checkout bench's command line: flags, defaults, and one line naming the
// flag at fault when a value is wrong.

import { parseArgs } from 'node:util';
import { validateLoadShape } from './acceptLoad.ts';

export const HELP = `Usage: npm run bench -- [options]

  --duration SEC            accept phase length at the fixed rate (default 15)
  --warmup SEC              warm-up at the same rate before measuring (default 3)
  --rate N                  requests per second offered to POST /v1/checkouts (default 1000)
  --lanes N                 autocannon instances, started 1000/N ms apart, each sending rate/N
                            per second; 1 = plain autocannon overallRate bursts (default 20)
  --connections N           connections per lane (default 2)
  --creators N              creators the checkouts are spread over (queue groups) (default 100)
  --worker-concurrency N    WORKER_CONCURRENCY of the settle phase (default 96, as deployed)
  --settle-timeout SEC      give up waiting for the ledger after this long (default 600)
  --pgbench-duration SEC    pgbench -T (default 15)
  --pgbench-scale N         pgbench -i -s (default 10)
  --pgbench-clients N       pgbench -c (default 8)
  --pgbench-threads N       pgbench -j (default 2)
  --no-settle               stop after the accept phase
  --no-pgbench              skip the pgbench baseline
  --statements              load pg_stat_statements and report SQL statements per checkout
                            (adds a little overhead to every statement; off for headline figures)
  --log-level LEVEL         LOG_LEVEL of the API, worker and provider (default info, as deployed)
  --cpu-prof DIR            write V8 CPU profiles of the API and worker into DIR
  --wait-idle SEC           wait up to SEC for the machine to be idle (<10% busy) before starting
                            (default 0: start at once, with a warning if it is busy)
  --seed S                  catalog seed (default bench)
  --json                    print the result as JSON on stdout (progress stays on stderr)
  --help`;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface BenchOptions {
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly rate: number;
  readonly lanes: number;
  readonly connections: number;
  readonly creators: number;
  readonly workerConcurrency: number;
  readonly settleTimeoutSec: number;
  readonly pgbenchDurationSec: number;
  readonly pgbenchScale: number;
  readonly pgbenchClients: number;
  readonly pgbenchThreads: number;
  readonly settle: boolean;
  readonly pgbench: boolean;
  readonly statements: boolean;
  readonly logLevel: string;
  readonly cpuProfileDir: string | undefined;
  readonly waitIdleSec: number;
  readonly seed: string;
  readonly json: boolean;
}

export class UsageError extends Error {}

/** The options, or null when --help was asked for; throws UsageError naming a wrong flag. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | null {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        duration: { type: 'string', default: '15' },
        warmup: { type: 'string', default: '3' },
        rate: { type: 'string', default: '1000' },
        lanes: { type: 'string', default: '20' },
        connections: { type: 'string', default: '2' },
        creators: { type: 'string', default: '100' },
        'worker-concurrency': { type: 'string', default: '96' },
        'settle-timeout': { type: 'string', default: '600' },
        'pgbench-duration': { type: 'string', default: '15' },
        'pgbench-scale': { type: 'string', default: '10' },
        'pgbench-clients': { type: 'string', default: '8' },
        'pgbench-threads': { type: 'string', default: '2' },
        'no-settle': { type: 'boolean', default: false },
        'no-pgbench': { type: 'boolean', default: false },
        statements: { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        'cpu-prof': { type: 'string' },
        'wait-idle': { type: 'string', default: '0' },
        seed: { type: 'string', default: 'bench' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  if (args.help) return null;

  const int = (name: keyof typeof args, min = 1): number => {
    const value = Number(args[name]);
    if (!Number.isInteger(value) || value < min) {
      throw new UsageError(
        `--${name} must be a whole number of at least ${min}, not "${String(args[name])}"`,
      );
    }
    return value;
  };
  if (!LOG_LEVELS.includes(args['log-level'])) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${args['log-level']}"`);
  }
  const o: BenchOptions = {
    durationSec: int('duration'),
    warmupSec: int('warmup', 0),
    rate: int('rate'),
    lanes: int('lanes'),
    connections: int('connections'),
    creators: int('creators'),
    workerConcurrency: int('worker-concurrency'),
    settleTimeoutSec: int('settle-timeout'),
    pgbenchDurationSec: int('pgbench-duration'),
    pgbenchScale: int('pgbench-scale'),
    pgbenchClients: int('pgbench-clients'),
    pgbenchThreads: int('pgbench-threads'),
    settle: !args['no-settle'],
    pgbench: !args['no-pgbench'],
    statements: args.statements,
    logLevel: args['log-level'],
    cpuProfileDir: args['cpu-prof'],
    waitIdleSec: int('wait-idle', 0),
    seed: args.seed,
    json: args.json,
  };
  try {
    validateLoadShape(o.rate, o.lanes, o.connections);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  return o;
}
