// `firebreak snapshot` / `restore` with real servers: a snapshot of a running
// stack restores into a fresh stack holding exactly the snapshot's rows (not
// the ones written after it), which then takes new checkouts; a wrong key and
// a flipped byte are refused with nothing restored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackDown, stackRestore, stackUp } from '../../src/stack/stackControl.ts';
import { readState, type StackState } from '../../src/stack/stackState.ts';
import { takeSnapshot } from '../../src/stack/snapshot/takeSnapshot.ts';
import { waitFor } from '../../src/util/waitFor.ts';
import { count, leftovers, postCheckouts } from './stackHelpers.ts';

const slow = { timeoutMs: 120_000, intervalMs: 100 };
const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

async function flipByte(path: string, at: number): Promise<void> {
  const f = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await f.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    await f.write(b, 0, 1, at);
  } finally {
    await f.close();
  }
}

test('snapshot and restore round trip; a wrong key and a flipped byte restore nothing', async () => {
  const base = await mkdtemp(join(tmpdir(), 'firebreak-snapshot-test-'));
  await chmod(base, 0o755); // restored servers live under it and run as the postgres user when we are root
  const stateDir = join(base, 'source');
  const restoredDir = join(base, 'restored');
  const servers = join(base, 'servers');
  await mkdir(servers, { mode: 0o755 });
  await chmod(servers, 0o755);
  const snapDir = join(base, 'snap');
  const key = randomBytes(32);
  const source = await stackUp({ stateDir, eventBus: 'file', ledgerStandby: false });
  let restoredState: StackState | undefined;
  try {
    assert.deepEqual(await postCheckouts(source, 6, 'snap'), Array(6).fill(202));
    await waitFor('6 charges', async () => (await count(source.urls.ledger!)) >= 6, slow);

    const { manifest } = await takeSnapshot({ state: (await readState(stateDir))!, outDir: snapDir, key });
    const ledgerRows = manifest.stores.find((s) => s.role === 'ledger')!.rowCounts;
    assert.equal(ledgerRows['public.checkouts'], '6');
    assert.equal(ledgerRows['public.firebreak_environment'], '1');
    for (const name of await readdir(snapDir)) {
      const bytes = await readFile(join(snapDir, name));
      assert.equal(bytes.indexOf(key), -1, `${name} does not hold the key`);
      assert.equal(bytes.indexOf(key.toString('hex')), -1, `${name} does not hold the key as hex`);
    }
    // Written after the snapshot: must not be in the restored stack.
    assert.deepEqual(await postCheckouts(source, 2, 'later'), [202, 202]);
    await waitFor('8 charges', async () => (await count(source.urls.ledger!)) >= 8, slow);

    const nothingRestored = async () => {
      assert.equal(existsSync(restoredDir), false, 'no state directory');
      assert.deepEqual(await readdir(servers), [], 'no server directory');
    };
    await assert.rejects(
      stackRestore({
        stateDir: restoredDir,
        snapshotDir: snapDir,
        key: randomBytes(32),
        serverParentDir: servers,
      }),
      code('FB_SNAPSHOT_WRONG_KEY'),
    );
    await nothingRestored();

    const flipped = join(base, 'flipped');
    await cp(snapDir, flipped, { recursive: true });
    const queuePack = join(flipped, 'queue.fbpack');
    await flipByte(queuePack, Math.floor((await readFile(queuePack)).length / 2));
    await assert.rejects(
      stackRestore({ stateDir: restoredDir, snapshotDir: flipped, key, serverParentDir: servers }),
      code('FB_SNAPSHOT_CORRUPT'),
    );
    await nothingRestored();

    const restored = await stackRestore({
      stateDir: restoredDir,
      snapshotDir: snapDir,
      key,
      serverParentDir: servers,
    });
    restoredState = restored.state;
    assert.equal(restored.state.restoredFrom, snapDir);
    assert.equal(await count(restored.state.urls.ledger!), 6, 'the snapshot rows, not the later ones');
    assert.equal(
      await count(restored.state.urls.queue!, 'SELECT count(*)::int AS n FROM checkout_intake'),
      6,
    );
    // The restored stack works: same catalog and keys, new checkouts commit.
    assert.deepEqual(await postCheckouts(restored.state, 2, 'restored'), [202, 202]);
    await waitFor(
      '8 charges in the restored ledger',
      async () => (await count(restored.state.urls.ledger!)) >= 8,
      slow,
    );
  } finally {
    await stackDown(stateDir);
    await stackDown(restoredDir);
  }
  assert.deepEqual(leftovers(source), []);
  assert.ok(restoredState);
  assert.deepEqual(leftovers(restoredState), []);
  assert.deepEqual(await readdir(servers), []);
  await rm(base, { recursive: true, force: true });
});
