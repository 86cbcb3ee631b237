// `firebreak up` end to end with real processes: the stack comes up healthy
// and stamped, keeps running after the call returns, a SIGKILLed service is
// restarted by the supervisor, the ledger's synchronous standby receives the
// primary's writes and is promoted when the primary is SIGKILLed while the
// services run on through the same address, and `down` leaves no process and
// no directory behind (twice).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackDown, stackUp } from '../../src/stack/stackControl.ts';
import { readState, type StackState } from '../../src/stack/stackState.ts';
import { formatStatus, stackStatus } from '../../src/stack/stackStatus.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { count, leftovers, postCheckouts } from './stackHelpers.ts';

const CLI = fileURLToPath(new URL('../../bin/firebreak.js', import.meta.url));
const slow = { timeoutMs: 120_000, intervalMs: 100 };

function component(state: StackState, name: string) {
  const c = state.components.find((x) => x.name === name);
  assert.ok(c, `state has a ${name} component`);
  return c;
}

test('up, status, a service restart, a standby failover under running services, down', async () => {
  const base = await mkdtemp(join(tmpdir(), 'firebreak-stack-test-'));
  const stateDir = join(base, 'stack');
  const seen: StackState[] = [];
  const state = await stackUp({
    stateDir,
    eventBus: 'file',
    restartPolicy: { initialDelayMs: 100, maxDelayMs: 1_000, resetAfterMs: 60_000 },
  });
  seen.push(state);
  try {
    // Every component healthy, both databases stamped for staging, the standby streaming.
    const status = await stackStatus(stateDir);
    assert.ok(status.healthy, formatStatus(status));
    const names = status.components.map((c) => c.name);
    for (const n of [
      'ledger',
      'ledger-standby',
      'ledger-address',
      'queue',
      'psp',
      'api',
      'relay',
      'worker',
      'scheduler',
    ])
      assert.ok(names.includes(n), `status shows ${n}`);
    for (const c of status.components.filter((x) => x.kind === 'postgres'))
      assert.equal(c.stamp, 'staging', c.name);
    assert.match(status.components.find((c) => c.name === 'ledger-standby')!.detail, /standby, streaming/);
    assert.equal(status.failoverMode, 'standby');

    // The CLI reads the same stack: exit 0, JSON.
    const cli = spawnSync(process.execPath, [CLI, 'status', '--state-dir', stateDir, '--json'], {
      encoding: 'utf8',
    });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { healthy: boolean }).healthy, true);

    // Replication: what the primary commits, the standby has.
    assert.deepEqual(await postCheckouts(state, 5, 'before'), [202, 202, 202, 202, 202]);
    await waitFor('5 charges in the ledger', async () => (await count(state.urls.ledger!)) >= 5, slow);
    const standby = component(state, 'ledger-standby');
    await waitFor('5 charges on the standby', async () => (await count(standby.probe)) >= 5, slow);

    // A SIGKILLed service comes back, on the same port.
    const worker = component(state, 'worker');
    process.kill(worker.proc!.pid, 'SIGKILL');
    const afterRestart = await waitFor(
      'the supervisor to restart the worker',
      async () => {
        const s = (await readState(stateDir))!;
        const w = component(s, 'worker');
        return w.state === 'running' && w.proc && w.proc.pid !== worker.proc!.pid ? s : false;
      },
      slow,
    );
    seen.push(afterRestart);
    const restarted = component(afterRestart, 'worker');
    assert.equal(restarted.restarts, 1);
    assert.equal(restarted.lastExit?.signal, 'SIGKILL');
    assert.equal(restarted.adminPort, worker.adminPort);
    await waitFor(
      'status healthy after the restart',
      async () => (await stackStatus(stateDir)).healthy,
      slow,
    );

    // SIGKILL the ledger primary: the standby is promoted, services keep their processes and address.
    const servicePids = (s: StackState) =>
      Object.fromEntries(
        ['psp', 'api', 'relay', 'worker', 'scheduler'].map((n) => [n, component(s, n).proc?.pid]),
      );
    const pidsBefore = servicePids(afterRestart);
    process.kill(component(afterRestart, 'ledger').proc!.pid, 'SIGKILL');
    const afterFailover = await waitFor(
      'a failover',
      async () => ((await readState(stateDir))!.failovers.length > 0 ? (await readState(stateDir))! : false),
      slow,
    );
    assert.equal(afterFailover.failovers[0]?.mode, 'standby');
    assert.equal(afterFailover.urls.ledger, state.urls.ledger, 'the services keep the same ledger address');
    assert.deepEqual(await postCheckouts(state, 5, 'after'), [202, 202, 202, 202, 202]);
    await waitFor(
      '10 charges in the promoted ledger',
      async () => (await count(state.urls.ledger!)) >= 10,
      slow,
    );
    const rebuilt = await waitFor(
      'a new standby cloned from the new primary',
      async () => {
        const s = (await readState(stateDir))!;
        const sb = s.components.find((c) => c.name === 'ledger-standby');
        return sb?.state === 'running' && sb.proc && sb.proc.pid !== standby.proc!.pid ? s : false;
      },
      slow,
    );
    seen.push(rebuilt);
    assert.deepEqual(servicePids(rebuilt), pidsBefore, 'no service was restarted by the failover');
    await waitFor(
      '10 charges on the new standby',
      async () => (await count(component(rebuilt, 'ledger-standby').probe)) >= 10,
      slow,
    );
    const final = await waitFor(
      'status healthy after the failover',
      async () => {
        const s = await stackStatus(stateDir);
        return s.healthy ? s : false;
      },
      slow,
    );
    assert.equal(final.failoverMode, 'standby');
  } finally {
    const report = await stackDown(stateDir);
    assert.equal(report.found, true);
  }
  for (const s of seen) assert.deepEqual(leftovers(s), [], 'down left nothing behind');
  assert.equal((await stackDown(stateDir)).found, false, 'a second down finds nothing and succeeds');
  await rm(base, { recursive: true, force: true });
});
