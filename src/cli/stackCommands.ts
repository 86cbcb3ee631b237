// firebreak up / status / down / snapshot / restore: the disposable staging
// stack (src/stack/). `up` returns once the stack is up and leaves its
// supervisor running; the others find it through the state directory.

import { parseArgs } from 'node:util';
import { resolve, sep, join } from 'node:path';
import { z } from 'zod';
import { EnvName } from '../guardrails/fence/environment.ts';
import { fbError, isFirebreakError } from '../errors/index.ts';
import { loadKey } from '../stack/snapshot/snapshotKey.ts';
import { takeSnapshot } from '../stack/snapshot/takeSnapshot.ts';
import { stackDown, stackRestore, stackUp } from '../stack/stackControl.ts';
import { readState, resolveStateDir, type StackState } from '../stack/stackState.ts';
import { formatStatus, stackStatus } from '../stack/stackStatus.ts';
import { flag, intFlag, parseFlags } from './args.ts';

export const STACK_HELP = `firebreak up [flags]
  Starts a staging stack on this machine and leaves it running: Postgres for
  the ledger (primary + synchronous streaming standby) and for the queue, the
  Kafka peer, the provider, API, relay, worker and scheduler, under a
  supervisor that restarts a crashed process with backoff and fails the
  ledger over to its standby when the primary dies.
  --state-dir DIR      where the stack's state lives (default .firebreak/stack,
                       or FIREBREAK_STATE_DIR); every command below takes it
  --env NAME           environment the databases are stamped for (default staging)
  --seed S             seed for the catalog and keys (default: random)
  --creators N         creators in the catalog (default 5)
  --no-standby         no ledger standby: failover is a restart (crash recovery)
  --redis              also start Redis for the API's cached reads
  --event-bus B        auto (default: Kafka peer if kcat is installed), kafka, file
  --json               print the stack (pids, ports, URLs) as JSON

firebreak status [--state-dir DIR] [--json]
  Every component: pid, port, health (SQL round trip, /livez, PING), the
  database's environment stamp, restarts and last exit. Exit 0 only when all
  are healthy.

firebreak down [--state-dir DIR] [--json]
  Stops everything the stack started and removes its directories. Safe to run twice.

firebreak snapshot [--state-dir DIR] [--out DIR] [--key-file PATH] [--json]
  An encrypted (AES-256-GCM), checksummed snapshot of the running stack's
  ledger and queue stores and provider record, taken online. The key (32
  bytes, hex) comes from --key-file or FIREBREAK_SNAPSHOT_KEY and is never
  written with the snapshot. Default --out: .firebreak/snapshots/<time>.

firebreak restore SNAPSHOT [--state-dir DIR] [--key-file PATH] [--no-standby] [--json]
  A fresh stack from a snapshot, verified (checksums, authentication tags,
  servers recover, row counts match the manifest) before it takes traffic.
  Nothing is left behind when a check fails.`;

const common = {
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const progress = (line: string) => process.stderr.write(`${line}\n`);

/** Runs a command; a bad snapshot key is a configuration error (exit 2), like bad flags. */
async function run(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (isFirebreakError(err) && err.code === 'FB_SNAPSHOT_KEY_INVALID') {
      process.stderr.write(`${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function summary(state: StackState): Record<string, unknown> {
  return {
    stateDir: state.stateDir,
    environment: state.environment,
    supervisorPid: state.supervisor.pid,
    failoverMode: state.failoverMode,
    restoredFrom: state.restoredFrom,
    urls: state.urls,
    components: state.components.map((c) => ({
      name: c.name,
      kind: c.kind,
      pid: c.proc?.pid ?? null,
      port: c.port,
    })),
    stateFile: join(state.stateDir, 'state.json'),
  };
}

function formatUp(state: StackState, verb: string, ms: number): string {
  const lines = [
    `stack ${verb} in ${(ms / 1000).toFixed(1)} s and left running (supervisor pid ${state.supervisor.pid}).`,
    `  state      ${state.stateDir} (keys and passwords in state.json, mode 0600)`,
    `  ledger     failover mode ${state.failoverMode}; services use ${state.urls.ledger}`,
    `  API        ${state.urls.api}  (admin ${state.urls.apiAdmin})`,
    `  provider   ${state.urls.psp}`,
    ...(state.urls.kafka ? [`  kafka      ${state.urls.kafka}`] : []),
    ...(state.urls.redis ? [`  redis      ${state.urls.redis}`] : []),
    `"firebreak status" shows every component; "firebreak down" removes it all.`,
  ];
  return `${lines.join('\n')}\n`;
}

export async function upCommand(args: string[]): Promise<number> {
  const v = parseFlags('up', args, {
    ...common,
    env: { type: 'string' },
    seed: { type: 'string' },
    creators: { type: 'string' },
    'no-standby': { type: 'boolean' },
    redis: { type: 'boolean' },
    'event-bus': { type: 'string' },
  });
  const environment = flag('env', EnvName.default('staging'), v.env);
  const seed = flag('seed', z.string().min(1).max(200).optional(), v.seed);
  const creators = flag('creators', intFlag(1, 10_000).optional(), v.creators) ?? 5;
  const eventBus = flag('event-bus', z.enum(['auto', 'kafka', 'file']).default('auto'), v['event-bus']);
  const t0 = performance.now();
  const state = await stackUp({
    stateDir: resolveStateDir(v['state-dir']),
    environment,
    seed,
    creators,
    ledgerStandby: !v['no-standby'],
    redis: v.redis ?? false,
    eventBus,
    onProgress: progress,
  });
  write(v.json ? JSON.stringify(summary(state), null, 2) : formatUp(state, 'up', performance.now() - t0));
  return 0;
}

export async function statusCommand(args: string[]): Promise<number> {
  const v = parseFlags('status', args, common);
  const status = await stackStatus(resolveStateDir(v['state-dir']));
  write(v.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return status.healthy ? 0 : 1;
}

export async function downCommand(args: string[]): Promise<number> {
  const v = parseFlags('down', args, common);
  const stateDir = resolveStateDir(v['state-dir']);
  const report = await stackDown(stateDir);
  if (v.json) write(JSON.stringify(report, null, 2));
  else if (!report.found) write(`no stack in ${stateDir}: nothing to take down.`);
  else
    write(
      `stack in ${stateDir} is down: supervisor ${report.supervisorPid} stopped everything` +
        (report.killed.length
          ? `; killed leftovers ${report.killed.map((k) => `${k.name} (${k.pid})`).join(', ')}`
          : '') +
        `; removed ${report.removed.length} directories.`,
    );
  return 0;
}

function keyOutside(keyFile: string | undefined, dir: string): void {
  if (keyFile && (resolve(keyFile) + sep).startsWith(resolve(dir) + sep))
    throw fbError(
      'FB_USAGE',
      `--key-file ${keyFile} is inside the snapshot directory; keep the key elsewhere.`,
      {
        field: '--key-file',
      },
    );
}

export function snapshotCommand(args: string[]): Promise<number> {
  return run(async () => {
    const v = parseFlags('snapshot', args, {
      ...common,
      out: { type: 'string' },
      'key-file': { type: 'string' },
    });
    const stateDir = resolveStateDir(v['state-dir']);
    const outDir = resolve(
      v.out ?? join('.firebreak', 'snapshots', new Date().toISOString().replace(/[:.]/g, '-')),
    );
    keyOutside(v['key-file'], outDir);
    const key = await loadKey(v['key-file']);
    const state = await readState(stateDir);
    if (!state)
      throw fbError('FB_STACK_NOT_FOUND', `no stack is up in ${stateDir}. Start one with "firebreak up".`);
    const t0 = performance.now();
    const { manifest } = await takeSnapshot({ state, outDir, key, onProgress: progress });
    const ms = Math.round(performance.now() - t0);
    if (v.json) write(JSON.stringify({ dir: outDir, ms, manifest }, null, 2));
    else {
      const bytes = manifest.packs.reduce((n, p) => n + p.bytes, 0);
      const rows = (role: string) => {
        const s = manifest.stores.find((x) => x.role === role)!;
        const total = Object.values(s.rowCounts).reduce((n, c) => n + BigInt(c), 0n);
        return `${role} ${total} rows in ${Object.keys(s.rowCounts).length} tables`;
      };
      write(
        `snapshot ${manifest.id} written to ${outDir} in ${(ms / 1000).toFixed(1)} s: ${(bytes / 1e6).toFixed(1)} MB encrypted, ` +
          `${rows('ledger')}, ${rows('queue')}; the server kept running (${manifest.consistency.split(':')[0]}).\n` +
          `Restore with: firebreak restore ${outDir} --key-file KEY`,
      );
    }
    return 0;
  });
}

export function restoreCommand(args: string[]): Promise<number> {
  return run(async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        strict: true,
        allowPositionals: true,
        options: { ...common, 'key-file': { type: 'string' }, 'no-standby': { type: 'boolean' } },
      });
    } catch (err) {
      throw fbError('FB_USAGE', `firebreak restore: ${(err as Error).message}. Run "firebreak help".`, {
        cause: err,
      });
    }
    const { values: v, positionals } = parsed;
    if (positionals.length !== 1)
      throw fbError('FB_USAGE', 'firebreak restore takes exactly one SNAPSHOT directory.', {
        field: 'SNAPSHOT',
      });
    const snapshotDir = resolve(positionals[0]!);
    const key = await loadKey(v['key-file']);
    const t0 = performance.now();
    const result = await stackRestore({
      stateDir: resolveStateDir(v['state-dir']),
      snapshotDir,
      key,
      ledgerStandby: v['no-standby'] ? false : undefined,
      onProgress: progress,
    });
    if (v.json)
      write(
        JSON.stringify(
          { ...summary(result.state), snapshot: result.manifest.id, timings: result.timings },
          null,
          2,
        ),
      );
    else {
      const tables = result.manifest.stores.reduce((n, s) => n + Object.keys(s.rowCounts).length, 0);
      write(
        `restored snapshot ${result.manifest.id} (taken ${result.manifest.createdAt}) and verified it: ` +
          `${result.manifest.packs.length} files match their SHA-256 and authentication tags, both stores recovered to their restore points, ` +
          `${tables} tables have the manifest's row counts.\n` +
          formatUp(result.state, 'restored', performance.now() - t0),
      );
    }
    return 0;
  });
}
