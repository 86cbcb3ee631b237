// The snapshot's file format without servers: packs round-trip byte for
// byte; a flipped byte, a wrong key, a swapped pack and a changed manifest
// are each refused with their error code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractPack, fileSha256, PackWriter, under } from '../../src/stack/snapshot/pack.ts';
import { authenticateManifest, FORMAT, signManifest } from '../../src/stack/snapshot/manifest.ts';
import { deriveKeys, loadKey, parseKey } from '../../src/stack/snapshot/snapshotKey.ts';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'firebreak-snapfmt-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writePack(path: string, key: Buffer, files: Record<string, Buffer>) {
  const w = new PackWriter(path, key, 'id/ledger');
  await w.addDir('data', 0o700);
  for (const [name, data] of Object.entries(files)) await w.addBuffer(`data/${name}`, 0o600, data);
  return w.finish();
}

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('a pack round-trips every file byte for byte, and its SHA-256 is the file on disk', async () => {
  await withDir(async (dir) => {
    const key = randomBytes(32);
    const files = { a: randomBytes(3 * 1024 * 1024 + 7), b: Buffer.alloc(0), 'sub/c': Buffer.from('hello') };
    const sum = await writePack(join(dir, 'p.fbpack'), key, files);
    assert.deepEqual(await fileSha256(join(dir, 'p.fbpack')), { sha256: sum.sha256, bytes: sum.bytes });
    const out = join(dir, 'out');
    const r = await extractPack({
      path: join(dir, 'p.fbpack'),
      label: 'p',
      key,
      aad: 'id/ledger',
      iv: sum.iv,
      tag: sum.tag,
      target: under('data', out),
    });
    assert.equal(r.entries, 4);
    for (const [name, data] of Object.entries(files))
      assert.ok((await readFile(join(out, name))).equals(data), name);
  });
});

test('a flipped byte, the wrong key or another pack slot is refused as FB_SNAPSHOT_CORRUPT', async () => {
  await withDir(async (dir) => {
    const key = randomBytes(32);
    const sum = await writePack(join(dir, 'p.fbpack'), key, { a: randomBytes(100_000) });
    const bytes = await readFile(join(dir, 'p.fbpack'));
    bytes[50_000] = bytes[50_000]! ^ 0x01;
    await writeFile(join(dir, 'flipped.fbpack'), bytes);
    const base = { label: 'p', iv: sum.iv, tag: sum.tag, target: under('data', join(dir, 'out')) };
    await assert.rejects(
      extractPack({ ...base, path: join(dir, 'flipped.fbpack'), key, aad: 'id/ledger' }),
      code('FB_SNAPSHOT_CORRUPT'),
    );
    await assert.rejects(
      extractPack({ ...base, path: join(dir, 'p.fbpack'), key: randomBytes(32), aad: 'id/ledger' }),
      code('FB_SNAPSHOT_CORRUPT'),
    );
    await assert.rejects(
      extractPack({ ...base, path: join(dir, 'p.fbpack'), key, aad: 'id/queue' }),
      code('FB_SNAPSHOT_CORRUPT'),
    );
    // The untouched pack still opens: the refusals were about the changes.
    await extractPack({ ...base, path: join(dir, 'p.fbpack'), key, aad: 'id/ledger' });
  });
});

test('the manifest refuses a wrong key (FB_SNAPSHOT_WRONG_KEY) and any change to its contents (FB_SNAPSHOT_CORRUPT)', () => {
  const master = randomBytes(32);
  const id = randomBytes(16).toString('hex');
  const keys = deriveKeys(master, id);
  const m = signManifest(
    {
      format: FORMAT,
      id,
      createdAt: new Date().toISOString(),
      cipher: 'aes-256-gcm',
      keyCheck: keys.check,
      consistency: 'test',
      source: { environment: 'staging', stateDir: '/x', postgres: '18' },
      stores: [
        {
          role: 'ledger',
          database: 'ledger',
          restorePoint: 'rp',
          backupStartLsn: '0/1',
          backupStopLsn: '0/2',
          walFiles: 1,
          rowCounts: { 'public.t': '3' },
        },
      ],
      packs: [],
      timings: {},
    },
    keys,
  );
  authenticateManifest(m, keys);
  assert.throws(
    () => authenticateManifest(m, deriveKeys(randomBytes(32), id)),
    code('FB_SNAPSHOT_WRONG_KEY'),
  );
  const changed = { ...m, stores: [{ ...m.stores[0]!, rowCounts: { 'public.t': '4' } }] };
  assert.throws(() => authenticateManifest(changed, keys), code('FB_SNAPSHOT_CORRUPT'));
});

test('keys: hex or base64 of 32 bytes from a file or the environment; anything else is FB_SNAPSHOT_KEY_INVALID', async () => {
  const raw = randomBytes(32);
  assert.ok(parseKey(raw.toString('hex'), 'k').equals(raw));
  assert.ok(parseKey(`${raw.toString('base64')}\n`, 'k').equals(raw));
  assert.throws(() => parseKey('abc', 'k'), code('FB_SNAPSHOT_KEY_INVALID'));
  assert.ok((await loadKey(undefined, { FIREBREAK_SNAPSHOT_KEY: raw.toString('hex') })).equals(raw));
  await assert.rejects(loadKey(undefined, {}), code('FB_SNAPSHOT_KEY_INVALID'));
  await withDir(async (dir) => {
    await writeFile(join(dir, 'k'), `${raw.toString('hex')}\n`);
    assert.ok((await loadKey(join(dir, 'k'), {})).equals(raw));
    await assert.rejects(loadKey(join(dir, 'missing'), {}), code('FB_SNAPSHOT_KEY_INVALID'));
    assert.deepEqual((await readdir(dir)).sort(), ['k']);
  });
});
