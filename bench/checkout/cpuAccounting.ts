// Where the CPU went during a phase, from /proc (Linux only): user+system time
// of each process of interest, a Postgres server counted with all its
// backends (live ones from their own stat, exited ones through the
// postmaster's cutime/cstime), and the whole machine's busy share from
// /proc/stat. On a two-core machine shared by everything this is the first
// thing to look at when a figure is disappointing.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSubject {
  readonly name: string;
  readonly pid: number | undefined;
  /** Count the process's descendants too (a postmaster and its backends). */
  readonly withChildren?: boolean;
  /** Count only the children it has already waited for (this process's finished pgbench runs). */
  readonly reapedChildrenOnly?: boolean;
}

export interface CpuSample {
  readonly atMs: number;
  /** CPU seconds so far, by subject name. */
  readonly seconds: Readonly<Record<string, number>>;
  readonly machineBusyTicks: number;
  readonly machineTotalTicks: number;
  readonly machineIrqTicks: number;
}

export interface CpuUsage {
  readonly wallSec: number;
  /** CPU seconds in the phase, by subject name ('bench' is this process: the load generator). */
  readonly seconds: Readonly<Record<string, number>>;
  /** Busy share of all cores over the phase, 0..1. */
  readonly machineBusy: number;
  readonly cores: number;
  /** Interrupt and softirq time (loopback networking mostly), charged to no process. */
  readonly irqSec: number;
  /** Busy time neither our processes nor interrupts account for: other processes on the machine. */
  readonly otherSec: number;
}

/** A phase in which other processes used more than this share of the machine was not measured alone. */
export const CONTENDED_SHARE = 0.1;

export function isContended(cpu: CpuUsage): boolean {
  return cpu.otherSec > CONTENDED_SHARE * cpu.cores * cpu.wallSec;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcStat {
  readonly ppid: number;
  readonly own: number;
  readonly reapedChildren: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after it are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i - 3]);
    return { ppid: n(4), own: n(14) + n(15), reapedChildren: n(16) + n(17) };
  } catch {
    return undefined;
  }
}

function allStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  return stats;
}

function machineTicks(): { busy: number; total: number; irq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait, irq: irq + softirq };
}

export function sampleCpu(subjects: readonly CpuSubject[]): CpuSample {
  const hz = ticksPerSecond();
  const stats = allStats();
  const children = new Map<number, number[]>();
  for (const [pid, stat] of stats) {
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const seconds: Record<string, number> = {};
  for (const s of subjects) {
    if (s.pid === undefined) continue;
    const root = stats.get(s.pid);
    if (!root) continue;
    let ticks = s.reapedChildrenOnly ? root.reapedChildren : root.own;
    if (s.withChildren) {
      ticks += root.reapedChildren;
      const stack = [...(children.get(s.pid) ?? [])];
      for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
        ticks += stats.get(pid)?.own ?? 0;
        stack.push(...(children.get(pid) ?? []));
      }
    }
    seconds[s.name] = ticks / hz;
  }
  const usage = process.cpuUsage();
  seconds.bench = (usage.user + usage.system) / 1e6;
  const machine = machineTicks();
  return {
    atMs: performance.now(),
    seconds,
    machineBusyTicks: machine.busy,
    machineTotalTicks: machine.total,
    machineIrqTicks: machine.irq,
  };
}

export function cpuBetween(before: CpuSample, after: CpuSample, cores: number): CpuUsage {
  const seconds: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.seconds)) {
    const start = before.seconds[name];
    if (start !== undefined) seconds[name] = Math.max(0, value - start);
  }
  const total = after.machineTotalTicks - before.machineTotalTicks;
  const wallSec = (after.atMs - before.atMs) / 1000;
  const machineBusy = total > 0 ? (after.machineBusyTicks - before.machineBusyTicks) / total : 0;
  const irqSec = (after.machineIrqTicks - before.machineIrqTicks) / ticksPerSecond();
  const ours = Object.values(seconds).reduce((a, b) => a + b, 0);
  return {
    wallSec,
    seconds,
    machineBusy,
    cores,
    irqSec,
    otherSec: Math.max(0, machineBusy * cores * wallSec - ours - irqSec),
  };
}
