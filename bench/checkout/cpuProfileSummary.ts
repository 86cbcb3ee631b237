// Reads a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`) and prints
// where the process spent its time: self time by package (or by src/ folder
// for our own code) and the busiest functions.
//
//   node bench/checkout/cpuProfileSummary.ts DIR/api.cpuprofile [--top 25]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/**
 * Native frames that are a write system call. V8's profiler samples wall time on the main
 * thread, so on a saturated machine these also hold the time the thread waited for a CPU
 * after the write woke its peer (a Postgres backend): read them as "socket and pipe
 * writes, syscall plus scheduling delay", and measure on-CPU kernel time with perf.
 */
const WRITE_SYSCALLS = new Set([
  'writev',
  'writeBuffer',
  'writeUtf8String',
  'writeString',
  'writeLatin1String',
]);
export const WRITES = '(socket and pipe writes: syscall + wait for a CPU)';

/** A package name, "src/<folder>" for our code, "node:<module>" for Node's, or a V8 pseudo-frame. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '' && WRITE_SYSCALLS.has(functionName)) return WRITES;
  if (url === '') return `(${functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(src|bench)\/([^/]+)\//.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  return url;
}

function summarise(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  // Idle time is waiting, not work: left out of the shares.
  const idleIds = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id),
  );
  for (const id of idleIds) selfUs.delete(id);
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    const owner = ownerOf(url, functionName);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${owner}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const writes = byOwner.get(WRITES) ?? 0;
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return [
    `profile: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s wall, ${(total / 1e6).toFixed(1)} s busy (idle left out)`,
    `without the writes: ${((total - writes) / 1e6).toFixed(1)} s; shares below are of all sampled time`,
    'self time by owner:',
    ...rows(byOwner),
    'self time by function:',
    ...rows(byFunction),
  ].join('\n');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node bench/checkout/cpuProfileSummary.ts FILE.cpuprofile [--top N]\n');
  process.exit(2);
}
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  process.stdout.write(`${file}\n${summarise(profile, Number(values.top))}\n\n`);
}
