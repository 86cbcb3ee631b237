// The state of a running `firebreak up` stack: one JSON file in the state
// directory, written by the supervisor (atomically: temp file + rename, mode
// 0600 because it holds the stack's keys and database passwords) and read by
// `firebreak status`, `down` and `snapshot`. It records every process and
// directory the stack created, so `down` can remove all of them even when
// the supervisor itself is gone.
//
// A recorded pid is only ever signalled when the process still has the
// start time recorded with it (Linux: /proc/<pid>/stat), so a pid the kernel
// has since given to an unrelated process is never touched.

import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { fbError } from '../errors/index.ts';

export const STATE_FILE = 'state.json';
export const DEFAULT_STATE_DIR = join('.firebreak', 'stack');

const Exit = z.object({
  code: z.number().nullable(),
  signal: z.string().nullable(),
  at: z.string(),
});

const Proc = z.object({ pid: z.number().int().positive(), startTicks: z.string().nullable() });

export const Component = z.object({
  name: z.string(),
  kind: z.enum(['postgres', 'service', 'redis', 'kafka', 'proxy']),
  /** postgres: 'primary' | 'standby'. */
  role: z.string().optional(),
  proc: Proc.nullable(),
  port: z.number().int().nullable(),
  adminPort: z.number().int().nullable().optional(),
  /** For probes: a postgres:// URL (superuser), an http:// health URL, or host:port. */
  probe: z.string(),
  /** postgres: the application database whose environment stamp is shown. */
  database: z.string().optional(),
  dataDir: z.string().optional(),
  state: z.enum(['running', 'restarting', 'stopped']),
  restarts: z.number().int().nonnegative(),
  lastExit: Exit.nullable(),
  nextRestartAt: z.string().nullable().optional(),
});
export type Component = z.infer<typeof Component>;

export const StackState = z.object({
  version: z.literal(1),
  stateDir: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  phase: z.enum(['starting', 'running', 'stopping']),
  environment: z.string(),
  seed: z.string(),
  creators: z.number().int(),
  supervisor: Proc.extend({ log: z.string() }),
  /** How the ledger survives its primary dying now: 'standby' while a standby streams, else 'restart'. */
  failoverMode: z.enum(['restart', 'standby', 'patroni']),
  /** Every failover the supervisor ran, oldest first (src/stack/ledgerFailover.ts). */
  failovers: z.array(z.record(z.string(), z.unknown())),
  /** Where the stack came from, when it was restored from a snapshot. */
  restoredFrom: z.string().nullable(),
  components: z.array(Component),
  urls: z.record(z.string(), z.string()),
  keys: z.object({
    adminKey: z.string(),
    pspControlKey: z.string(),
    schedulerClockKey: z.string(),
    /** creator id -> API key */
    apiKeys: z.record(z.string(), z.string()),
  }),
  /** Every directory the stack created; `down` removes them all. */
  dirs: z.array(z.string()),
});
export type StackState = z.infer<typeof StackState>;

export function resolveStateDir(dir: string | undefined): string {
  return resolve(dir ?? process.env.FIREBREAK_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/** The state file's contents, or undefined when there is none. Bad contents are an error. */
export async function readState(stateDir: string): Promise<StackState | undefined> {
  const path = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fbError('FB_STACK_STATE_INVALID', `${path} is not valid JSON. Remove the directory by hand.`, {
      cause: err,
    });
  }
  const parsed = StackState.safeParse(json);
  if (!parsed.success)
    throw fbError(
      'FB_STACK_STATE_INVALID',
      `${path} is not a Firebreak stack state file (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}). Remove the directory by hand.`,
    );
  return parsed.data;
}

/** Writes the state file atomically with mode 0600. */
export async function writeState(state: StackState): Promise<void> {
  await mkdir(state.stateDir, { recursive: true });
  const path = join(state.stateDir, STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The start time of a process in clock ticks since boot (Linux), or null where /proc is absent. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22, starttime
  } catch {
    return null;
  }
}

export function procOf(pid: number | undefined): { pid: number; startTicks: string | null } | null {
  return pid === undefined ? null : { pid, startTicks: processStartTicks(pid) };
}

/** True when the recorded process is still the one that runs under its pid. */
export function isSameProcessAlive(proc: { pid: number; startTicks: string | null } | null): boolean {
  if (!proc) return false;
  try {
    process.kill(proc.pid, 0);
  } catch {
    // ESRCH: gone. EPERM: it exists but is not ours to signal, so not one we started.
    return false;
  }
  if (proc.startTicks === null) return true;
  const now = processStartTicks(proc.pid);
  // A zombie (exited, not yet reaped by its parent) still has /proc; count it as gone.
  return now === proc.startTicks && !isZombie(proc.pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
