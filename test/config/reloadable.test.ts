// The safe-reload library on its own: create-verify-swap-dispose in that
// order, every refusal keeps the old config and says why, reloads run one at
// a time, and only the process's own file (or SIGHUP) triggers one.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { fbError } from '../../src/errors/index.ts';
import { ReloadableConfig, type LoadedConfig } from '../../src/config/reloadable.ts';
import { waitFor } from '../../src/util/waitFor.ts';

interface Cfg {
  readonly size: number;
  readonly port: number;
}
interface Res {
  readonly id: number;
  closed: boolean;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'firebreak-reloadable-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A reloadable whose next load() returns whatever `next` holds, with a log of what happened in order. */
function harness(options: { watchFile?: string; failVerify?: () => boolean; gate?: Promise<void> } = {}) {
  const log: string[] = [];
  let ids = 0;
  const state = {
    next: { config: { size: 1, port: 80 }, hash: 'h1', env: 'staging', file: null } as
      LoadedConfig<Cfg> | Error,
  };
  const registry = new Registry();
  const initial: Res = { id: ids++, closed: false };
  const reloadable = new ReloadableConfig<Cfg, Res, string>({
    service: 'test',
    initial: {
      loaded: { config: { size: 1, port: 80 }, hash: 'h1', env: 'staging', file: null },
      resources: initial,
    },
    load: () => {
      log.push('load');
      if (state.next instanceof Error) throw state.next;
      return state.next;
    },
    restartOnly: (a, b) => (a.port !== b.port ? ['port'] : []),
    needsRebuild: (a, b) => a.size !== b.size,
    build: async (config) => {
      const r = { id: ids++, closed: false };
      log.push(`build ${r.id} size ${config.size}`);
      await options.gate;
      return r;
    },
    verify: [
      (r) => {
        log.push(`verify ${r.id}`);
        return options.failVerify?.()
          ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'))
          : Promise.resolve();
      },
    ],
    activate: (next, previous) => log.push(`activate ${next.id} (was ${previous.id})`),
    dispose: (r) => {
      r.closed = true;
      log.push(`dispose ${r.id}`);
      return Promise.resolve(`disposed ${r.id}`);
    },
    watchFile: options.watchFile ?? null,
    debounceMs: 20,
    registry,
  });
  return { reloadable, state, log, registry, initial };
}

const loaded = (size: number, hash: string, port = 80): LoadedConfig<Cfg> => ({
  config: { size, port },
  hash,
  env: 'staging',
  file: null,
});

test('an applied reload builds and verifies before the swap, and disposes the old resources after it', async () => {
  const h = harness();
  h.state.next = loaded(2, 'h2');
  const outcome = await h.reloadable.reload('manual');
  assert.equal(outcome.result, 'applied');
  assert.equal(outcome.disposed, 'disposed 0');
  assert.deepEqual(h.log, ['load', 'build 1 size 2', 'verify 1', 'activate 1 (was 0)', 'dispose 0']);
  assert.equal(h.reloadable.resources.id, 1);
  assert.equal(h.initial.closed, true);
  const status = h.reloadable.status();
  assert.equal(status.hash, 'h2');
  assert.equal(status.lastReloadError, null);
  assert.equal(status.lastReload?.result, 'applied');
  const metrics = await h.registry.metrics();
  assert.match(metrics, /firebreak_config_reloads_total\{service="test",result="applied"\} 1/);
  assert.match(metrics, /firebreak_config_info\{service="test",env="staging",hash="h2"\} 1/);
  assert.doesNotMatch(metrics, /hash="h1"/, 'only the config in force is reported');
});

test('an invalid config, a failed verification and a restart-only change each keep the old config and say why', async () => {
  const h = harness({ failVerify: () => true });
  h.state.next = fbError('FB_CONFIG_INVALID', 'x.yaml:3:5: tunables.size: must be at least 1');
  const invalid = await h.reloadable.reload('file');
  assert.equal(invalid.result, 'invalid');
  assert.equal(invalid.error?.code, 'FB_CONFIG_INVALID');
  assert.equal(
    h.reloadable.status().lastReloadError?.message,
    'x.yaml:3:5: tunables.size: must be at least 1',
  );

  h.state.next = loaded(3, 'h3');
  const unverified = await h.reloadable.reload('signal');
  assert.equal(unverified.result, 'verify_failed');
  assert.equal(unverified.error?.code, 'FB_CONFIG_RELOAD_FAILED');
  assert.match(
    unverified.error?.message ?? '',
    /^test: the reload to h3 was not applied, the old config keeps running: .*ECONNREFUSED/,
  );
  assert.deepEqual(
    h.log.slice(1),
    ['load', 'build 1 size 3', 'verify 1', 'dispose 1'],
    'the rejected new resources are closed, the old ones never',
  );

  h.state.next = loaded(1, 'h4', 8080);
  const restart = await h.reloadable.reload('file');
  assert.equal(restart.result, 'restart_required');
  assert.equal(restart.error?.code, 'FB_CONFIG_RESTART_REQUIRED');
  assert.match(restart.error?.message ?? '', /port changed, which a running process cannot apply/);

  assert.equal(h.reloadable.resources, h.initial);
  assert.equal(h.initial.closed, false);
  assert.equal(h.reloadable.status().hash, 'h1');
  assert.deepEqual(h.reloadable.status().reloads, {
    applied: 0,
    unchanged: 0,
    invalid: 1,
    restart_required: 1,
    verify_failed: 1,
  });
  // Putting the file back the way it runs clears the error.
  h.state.next = loaded(1, 'h1');
  assert.equal((await h.reloadable.reload('file')).result, 'unchanged');
  assert.equal(h.reloadable.status().lastReloadError, null);
});

test('a change that needs no new resources is adopted without building any', async () => {
  const h = harness();
  h.state.next = loaded(1, 'h1b');
  assert.equal((await h.reloadable.reload()).result, 'applied');
  assert.deepEqual(h.log, ['load']);
  assert.equal(h.reloadable.status().hash, 'h1b');
});

test('reloads run one at a time, and a burst of triggers collapses into one more', async () => {
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  const h = harness({ gate });
  h.state.next = loaded(2, 'h2');
  const first = h.reloadable.reload('signal');
  assert.equal(h.reloadable.reload('signal'), first, 'triggers before it starts join it');
  await waitFor('the first reload to be building', () => h.log.includes('build 1 size 2'));
  const second = h.reloadable.reload('signal');
  const third = h.reloadable.reload('file');
  assert.equal(second, third, 'triggers while one runs collapse into one more');
  assert.notEqual(second, first);
  open();
  assert.equal((await first).result, 'applied');
  assert.equal((await second).result, 'unchanged');
  assert.deepEqual(h.log, ['load', 'build 1 size 2', 'verify 1', 'activate 1 (was 0)', 'dispose 0', 'load']);
});

test('the watched file reloads on change; the same bytes, or another file beside it, do not', async () => {
  const file = join(dir, 'staging.yaml');
  await writeFile(file, 'size: 1\n');
  const h = harness({ watchFile: file });
  await h.reloadable.start();
  try {
    h.state.next = loaded(2, 'h2');
    await writeFile(join(dir, 'prod.yaml'), 'another environment\n');
    await writeFile(file, 'size: 1\n');
    await writeFile(file, 'size: 2\n');
    await waitFor('the reload after the write', () => h.reloadable.status().reloads.applied === 1);
    assert.equal(h.reloadable.status().lastReload?.trigger, 'file');
    const count = () => Object.values(h.reloadable.status().reloads).reduce((a, b) => a + b, 0);
    const before = count();
    // SIGHUP reloads regardless of the file (it re-reads file: secrets too): a marker that everything before it was seen.
    await writeFile(file, 'size: 2\n');
    await writeFile(join(dir, 'prod.yaml'), 'changed again\n');
    h.state.next = loaded(3, 'h3');
    process.emit('SIGHUP', 'SIGHUP');
    await waitFor('the SIGHUP reload', () => h.reloadable.status().reloads.applied === 2);
    assert.equal(h.reloadable.status().lastReload?.trigger, 'signal');
    assert.equal(count(), before + 1, 'neither the same bytes nor the other file caused a reload');
  } finally {
    await h.reloadable.close();
  }
  assert.equal(process.listenerCount('SIGHUP'), 0, 'close() removes the SIGHUP listener');
});
