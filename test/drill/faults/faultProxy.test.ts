// The fault proxy against a real Postgres: latency shows up on a real round
// trip and heal takes it away, a blackhole holds a query until healed, reset
// breaks open connections but not new ones, and a dead upstream is a
// transient error to the client.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { FaultProxy, urlThroughProxy } from '../../../src/faults/faultProxy.ts';
import { isTransientDbError } from '../../../src/db/pgErrors.ts';
import { freePort } from '../../../src/stack/freePort.ts';
import { SeededRandom } from '../../../src/util/seededRandom.ts';
import { waitFor } from '../../../src/util/waitFor.ts';
import { sharedPostgres } from '../../helpers/postgres.ts';

const server = await sharedPostgres('faultproxy');
const proxy = await FaultProxy.start({ name: 'test', upstream: { host: '127.0.0.1', port: server.port } });
after(() => proxy.close());
const viaProxy = urlThroughProxy(server.url(), proxy.address);

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function roundTripMs(c: pg.Client): Promise<number> {
  const t = performance.now();
  await c.query('SELECT 1');
  return performance.now() - t;
}

test('latency: 500 ms is added to every round trip on an open connection, and heal removes it', async () => {
  const c = await client(viaProxy);
  try {
    const before = await roundTripMs(c);
    assert.ok(before < 250, `a round trip through a healthy proxy took ${before.toFixed(0)} ms`);
    proxy.setLatency({ latencyMs: 500 });
    const slow = [await roundTripMs(c), await roundTripMs(c)];
    for (const ms of slow) assert.ok(ms >= 500, `a round trip took ${ms.toFixed(0)} ms under 500 ms latency`);
    proxy.heal();
    const healed = await roundTripMs(c);
    assert.ok(healed < 250, `after heal a round trip took ${healed.toFixed(0)} ms`);
    assert.deepEqual(proxy.faults, { latencyMs: 0, jitterMs: 0, direction: null, blackhole: false });
  } finally {
    await c.end();
  }
});

test('latency with jitter stays within latency ± jitter, and a seeded source replays the same delays', () => {
  const delays = (seed: string) => {
    const rng = new SeededRandom(seed);
    proxy.setLatency({
      latencyMs: 500,
      jitterMs: 100,
      direction: 'both',
      random: () => rng.int(0, 999_999) / 1_000_000,
    });
    const d = Array.from({ length: 50 }, (_, i) => proxy.delayFor(i % 2 ? 'upstream' : 'downstream'));
    proxy.heal();
    return d;
  };
  const a = delays('s1');
  for (const d of a) assert.ok(d >= 400 && d <= 600, `delay ${d}`);
  assert.ok(new Set(a).size > 10, 'jitter varies the delay');
  assert.deepEqual(delays('s1'), a);
  assert.notDeepEqual(delays('s2'), a);
  proxy.setLatency({ latencyMs: 300, direction: 'upstream' });
  assert.equal(proxy.delayFor('downstream'), 0);
  assert.equal(proxy.delayFor('upstream'), 300);
  proxy.heal();
  assert.throws(() => proxy.setLatency({ latencyMs: -1 }), RangeError);
  assert.throws(() => proxy.setLatency({ latencyMs: 100, jitterMs: 200 }), RangeError);
});

test('blackhole: a query is held (the server never sees it) until the proxy heals, then it completes', async () => {
  const c = await client(viaProxy);
  const direct = await client(server.url());
  try {
    const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() pid')).rows[0]!.pid;
    const upBefore = proxy.stats.bytesUpstream;
    proxy.setBlackhole(true);
    let settled = false;
    const held = c.query<{ n: number }>('SELECT 4242 n').finally(() => (settled = true));
    await waitFor('the query to reach the proxy', () => proxy.stats.bytesUpstream > upBefore);
    // The server's view: the proxied backend has not received the query.
    const seen = await direct.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ]);
    assert.doesNotMatch(seen.rows[0]?.query ?? '', /4242/);
    assert.equal(settled, false, 'the query must not complete through a blackhole');
    assert.equal(proxy.faults.blackhole, true);
    proxy.heal();
    assert.equal((await held).rows[0]?.n, 4242);
  } finally {
    proxy.heal();
    await Promise.all([c.end(), direct.end()]);
  }
});

test('resetAll breaks every open connection with a transient error; new connections work', async () => {
  const a = await client(viaProxy);
  const b = await client(viaProxy);
  await waitFor('both connections open in the proxy', () => proxy.stats.open >= 2);
  const broken = Promise.all([
    new Promise<Error>((resolve) => a.once('error', resolve)),
    new Promise<Error>((resolve) => b.once('error', resolve)),
  ]);
  assert.ok(proxy.resetAll() >= 2);
  for (const err of await broken) assert.ok(isTransientDbError(err), `not transient: ${err.message}`);
  const fresh = await client(viaProxy);
  try {
    assert.equal((await fresh.query<{ n: number }>('SELECT 1 n')).rows[0]?.n, 1);
  } finally {
    await fresh.end();
    await Promise.allSettled([a.end(), b.end()]);
  }
});

test('an upstream that is down is a transient error to the client, and setUpstream moves new connections', async () => {
  const deadPort = await freePort();
  const p = await FaultProxy.start({ name: 'dead', upstream: { host: '127.0.0.1', port: deadPort } });
  try {
    const url = urlThroughProxy(server.url(), p.address);
    const err = await client(url).then(
      () => assert.fail('connected through a proxy whose upstream is down'),
      (e: unknown) => e,
    );
    assert.ok(isTransientDbError(err), `not transient: ${(err as Error).message}`);
    assert.equal(p.stats.upstreamFailures, 1);
    p.setUpstream('127.0.0.1', server.port);
    const c = await client(url);
    assert.equal((await c.query<{ n: number }>('SELECT 1 n')).rows[0]?.n, 1);
    await c.end();
  } finally {
    await p.close();
  }
});
