// Ctrl-C during `firebreak drill`: the command as a user runs it (a real
// process with its own TMPDIR), interrupted once its stack is up and traffic
// flows. It must exit 130, leave no process it started running (Postgres
// postmasters and their backends, the services, the Kafka peer) and leave
// nothing in its TMPDIR. With a scenario running — kafka-outage, which
// freezes the broker with SIGSTOP — the scenario's heal must run too, so no
// stopped process outlives the drill.
//
// Ctrl-C in a terminal signals the whole foreground process group, not just
// the CLI: the test starts the CLI as its own group and signals the group, so
// the postmasters and services receive SIGINT as well, as they would. A
// `kill -INT` of the CLI alone (a supervisor, a CI runner) is covered too:
// then the drill's own clean-up has to stop every process.
//
// Each test has a generous timeout as a hang guard, not a timing target: before
// the drill stopped waiting on an interrupted run, Ctrl-C took over six minutes
// (the settle and drain waits ran out on a stopped stack) and exited 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../src/util/waitFor.ts';
import { skipWithoutKcat } from '../helpers/kafka.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Clock ticks after boot: with the pid, it names one process even if the pid is reused. */
  readonly startTime: string;
  /** R, S, D, T (stopped), Z... */
  readonly state: string;
  readonly command: string;
}

async function procInfo(pid: number): Promise<ProcInfo | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which is in parentheses and may hold spaces).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
    return {
      pid,
      ppid: Number(rest[1]),
      startTime: rest[19] ?? '',
      state: rest[0] ?? '',
      command: cmdline || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

async function allProcesses(): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((d) => /^[0-9]+$/.test(d)).map(Number);
  return (await Promise.all(pids.map(procInfo))).filter((p): p is ProcInfo => p !== undefined);
}

/** Every process below root (children, grandchildren: Postgres backends, services, kcat). */
async function descendants(root: number): Promise<ProcInfo[]> {
  const all = await allProcesses();
  const found: ProcInfo[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of all)
      if (p.ppid === parent) {
        found.push(p);
        frontier.push(p.pid);
      }
  }
  return found;
}

/** Processes (other than the dead CLI's former children) that mention dir in their command line or cwd. */
async function processesUsing(dir: string): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const p of await allProcesses()) {
    const cwd = await readlink(`/proc/${p.pid}/cwd`).catch(() => '');
    if (p.command.includes(dir) || cwd.startsWith(dir)) out.push(p);
  }
  return out;
}

async function stillRunning(p: ProcInfo): Promise<boolean> {
  const now = await procInfo(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
}

/**
 * Starts `firebreak drill` in its own process group and TMPDIR, waits until
 * `ready` matches its stderr, records its process tree, sends SIGINT to the
 * group, and returns what happened.
 */
async function interruptDrill(
  args: string[],
  ready: RegExp,
  {
    target = 'group',
    beforeInterrupt,
  }: { target?: 'group' | 'process'; beforeInterrupt?: (tree: ProcInfo[]) => Promise<void> } = {},
) {
  const ownTmp = await mkdtemp(join(tmpdir(), 'drill-interrupt-'));
  await chmod(ownTmp, 0o777); // the Postgres servers run as the "postgres" user when we are root
  const reports = await mkdtemp(join(tmpdir(), 'drill-interrupt-reports-'));
  const child = spawn(process.execPath, [CLI, 'drill', '--report-dir', reports, ...args], {
    env: { ...process.env, TMPDIR: ownTmp },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let tree: ProcInfo[] = [];
  try {
    await waitFor(
      `the drill's stderr to match ${ready}`,
      () => ready.test(stderr) || child.exitCode !== null,
      {
        timeoutMs: 180_000,
        intervalMs: 50,
      },
    );
    assert.equal(child.exitCode, null, `the drill ended before it could be interrupted:\n${stderr}`);
    tree = await descendants(child.pid!);
    await beforeInterrupt?.(tree);
    process.kill(target === 'group' ? -child.pid! : child.pid!, 'SIGINT');
    const [code, signal] = await exited;
    return { code, signal, stderr, stdout, tree, ownTmp, reports };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Nothing this test started may outlive it, whatever the assertions below find.
    for (const p of tree) if (await stillRunning(p)) process.kill(p.pid, 'SIGKILL');
    await rm(reports, { recursive: true, force: true });
  }
}

async function assertCleanedUp(r: Awaited<ReturnType<typeof interruptDrill>>) {
  try {
    assert.equal(r.code, 130, `exit code 130 after Ctrl-C (signal ${r.signal}); stderr:\n${r.stderr}`);
    assert.match(r.stderr, /interrupted: stopping the stack and cleaning up/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const left = [];
    for (const p of r.tree) if (await stillRunning(p)) left.push(`${p.pid} ${p.state} ${p.command}`);
    assert.deepEqual(left, [], 'every process the drill started is gone');
    const using = (await processesUsing(r.ownTmp)).map((p) => `${p.pid} ${p.state} ${p.command}`);
    assert.deepEqual(using, [], 'no process (even a reparented one) runs from the drill TMPDIR');
    assert.deepEqual(await readdir(r.ownTmp), [], 'the drill TMPDIR holds nothing');
  } finally {
    await rm(r.ownTmp, { recursive: true, force: true });
  }
}

const HANG_GUARD = { timeout: 240_000 };

test('Ctrl-C while traffic flows: exit 130, every process gone, TMPDIR empty', HANG_GUARD, async () => {
  const r = await interruptDrill(
    ['--checkouts', '2000', '--creators', '10', '--seed', 'interrupt'],
    /traffic: \d+\/2000 sent/,
  );
  const commands = r.tree.map((p) => p.command).join('\n');
  assert.match(commands, /postgres.*-D .*firebreak-pg-ledger-/, 'the ledger postmaster was running');
  assert.match(commands, /postgres.*-D .*firebreak-pg-queue-/, 'the queue postmaster was running');
  for (const service of ['api', 'worker', 'psp', 'outbox', 'scheduler', 'reconcile'])
    assert.match(commands, new RegExp(`src/${service}/main\\.ts`), `the ${service} process was running`);
  await assertCleanedUp(r);
});

test(
  'kill -INT of the CLI alone (no signal to its children): the drill stops every process itself',
  HANG_GUARD,
  async () => {
    const r = await interruptDrill(
      ['--checkouts', '2000', '--creators', '10', '--seed', 'interrupt-cli-only'],
      /traffic: \d+\/2000 sent/,
      { target: 'process' },
    );
    assert.ok(r.tree.length >= 7, `the stack's processes were running: ${r.tree.length}`);
    await assertCleanedUp(r);
  },
);

test(
  'Ctrl-C during kafka-outage (broker stopped with SIGSTOP): heal runs before the stack stops, no stopped process is left',
  { ...HANG_GUARD, skip: skipWithoutKcat },
  async () => {
    const r = await interruptDrill(
      ['--checkouts', '2000', '--creators', '10', '--seed', 'interrupt-kafka', '--scenario', 'kafka-outage'],
      /kafka-outage: inject/,
      {
        beforeInterrupt: async (tree) => {
          const kcat = tree.find((p) => /^kcat /.test(p.command));
          assert.ok(kcat, 'the Kafka peer (kcat) was running');
          await waitFor(
            'the broker to be stopped (SIGSTOP)',
            async () => (await procInfo(kcat.pid))?.state === 'T',
            {
              timeoutMs: 10_000,
            },
          );
        },
      },
    );
    const healed = r.stderr.indexOf('interrupted: kafka-outage healed');
    assert.ok(healed >= 0, `the scenario's heal ran:\n${r.stderr}`);
    assert.ok(
      healed < r.stderr.indexOf('stopping the stack and removing its files'),
      'it healed before the stack was stopped',
    );
    await assertCleanedUp(r);
  },
);
