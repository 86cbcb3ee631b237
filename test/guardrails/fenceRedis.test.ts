// The environment fence against real Redis (Debian's redis-server 7): the
// stamp key, finding another environment's stamp, the per-environment ACL
// user really confined to its prefix, and FencedRedis checking every
// connection, including a reconnect that lands on a differently-stamped server.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { isFirebreakError } from '../../src/errors/index.ts';
import { Fence } from '../../src/guardrails/fence/fence.ts';
import { FencedRedis } from '../../src/guardrails/fence/fencedRedis.ts';
import { ensureEnvironmentAclUser } from '../../src/guardrails/fence/redisStamp.ts';
import { parseResourceUrl } from '../../src/guardrails/fence/resourceUrl.ts';
import { RedisServer } from '../../src/stack/redisServer.ts';

const servers: RedisServer[] = [];
const clients: Redis[] = [];
after(async () => {
  for (const c of clients) c.disconnect();
  for (const f of fencedClients) f.redis.disconnect();
  await Promise.allSettled(servers.map((s) => s.destroy()));
});

const fencedClients: FencedRedis[] = [];
/** FencedRedis.open, with the client disconnected after the file even when a test fails midway. */
function openFenced(options: Parameters<typeof FencedRedis.open>[0]): Promise<FencedRedis> {
  const opening = FencedRedis.open(options);
  opening.then(
    (f) => fencedClients.push(f),
    () => {},
  );
  return opening;
}

async function server(name: string, port?: number): Promise<RedisServer> {
  const s = await RedisServer.start({ name, ...(port ? { port } : {}) });
  servers.push(s);
  return s;
}

function connect(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

const resource = (url: string, name = '') => parseResourceUrl(url, { name });
const rejectsWith = (code: string, pattern?: RegExp) => (err: unknown) => {
  assert.ok(isFirebreakError(err), `expected a FirebreakError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

/** Every key and value, and the server's own count of writes since it started (no persistence: never reset). */
async function snapshot(c: Redis): Promise<{ keys: Record<string, string | null>; changes: number }> {
  const keys: Record<string, string | null> = {};
  for (const k of (await c.keys('*')).sort()) keys[k] = await c.get(k);
  const info = await c.info('persistence');
  return { keys, changes: Number(/rdb_changes_since_last_save:(\d+)/.exec(info)?.[1]) };
}

test('stamp is one key under the environment prefix, written once; another environment is found by its key', async () => {
  const s = await server('fence-stamp');
  const admin = connect(s.url());
  const stamped = await new Fence({ env: 'production', stampedBy: 'terraform' }).stamp(resource(s.url()));
  assert.equal(stamped.outcome, 'adopted');
  const stored = JSON.parse((await admin.get('production:firebreak:stamp')) ?? 'null') as Record<
    string,
    string
  >;
  assert.equal(stored.env, 'production');
  assert.equal(stored.stampedBy, 'terraform');

  assert.equal((await new Fence({ env: 'production' }).check(resource(s.url()))).outcome, 'ok');
  const before = await snapshot(admin);
  await assert.rejects(
    new Fence({ env: 'staging' }).verify(resource(s.url(), 'cache redis')),
    rejectsWith(
      'FB_ENV_MISMATCH',
      /^cache redis redis:\/\/127\.0\.0\.1:\d+\/0 belongs to environment "production" \(stamped at .* by terraform\), but this process runs as "staging"/,
    ),
  );
  // Neither adopting nor stamping takes over a server another environment owns.
  assert.equal(
    (await new Fence({ env: 'staging', adopt: true }).check(resource(s.url()))).outcome,
    'mismatch',
  );
  assert.equal((await new Fence({ env: 'staging' }).stamp(resource(s.url()))).outcome, 'mismatch');
  assert.deepEqual(await snapshot(admin), before, 'refusals wrote nothing');

  const fresh = await server('fence-fresh');
  await assert.rejects(
    new Fence({ env: 'staging' }).verify(resource(fresh.url())),
    rejectsWith('FB_ENV_UNSTAMPED'),
  );
  assert.equal(await connect(fresh.url()).dbsize(), 0);
});

test('the environment ACL user reads and writes its own prefix and nothing else (redis-server 7)', async () => {
  const s = await server('fence-acl');
  const admin = connect(s.url());
  assert.match(await admin.info('server'), /redis_version:[7-9]\./, 'these checks are about Redis 7 ACLs');
  await new Fence({ env: 'staging' }).stamp(resource(s.url()));
  await admin.set('production:secret', 'prod-value');
  assert.equal(await ensureEnvironmentAclUser(admin, 'staging', 'staging-password-0123'), 'created');
  assert.equal(await ensureEnvironmentAclUser(admin, 'staging', 'another-password-4567'), 'exists');

  const port = s.port;
  const asStaging = connect(`redis://staging:staging-password-0123@127.0.0.1:${port}/0`);
  await asStaging.set('staging:k', 'v');
  assert.equal(await asStaging.get('staging:k'), 'v');
  for (const [what, call] of [
    ['GET another prefix', () => asStaging.get('production:secret')],
    ['SET another prefix', () => asStaging.set('production:secret', 'overwritten')],
    ['DEL another prefix', () => asStaging.del('production:secret')],
    ['an unprefixed key', () => asStaging.set('shared', 'x')],
    ['RENAME into another prefix', () => asStaging.rename('staging:k', 'production:k')],
    ['FLUSHALL', () => asStaging.flushall()],
    ['KEYS', () => asStaging.keys('*')],
    ['CONFIG SET', () => asStaging.config('SET', 'appendonly', 'yes')],
    ['PUBLISH to another prefix', () => asStaging.publish('production:events', 'x')],
  ] as const) {
    await assert.rejects(call(), /NOPERM/, what);
  }
  assert.equal(await admin.get('production:secret'), 'prod-value');
  await assert.rejects(
    connect(`redis://staging:wrong-password@127.0.0.1:${port}/0`).ping(),
    /WRONGPASS|invalid username-password/,
  );
  // The fence works through the confined user: its own stamp is under its prefix.
  const viaAcl = resource(`redis://staging:staging-password-0123@127.0.0.1:${port}/0`);
  assert.equal((await new Fence({ env: 'staging' }).check(viaAcl)).outcome, 'ok');
});

test('a confined user on a server another environment owns still learns whose it is (by key name) and is refused', async () => {
  const s = await server('fence-acl-prod');
  const admin = connect(s.url());
  await new Fence({ env: 'production' }).stamp(resource(s.url()));
  await ensureEnvironmentAclUser(admin, 'staging', 'staging-password-0123');
  const viaAcl = resource(`redis://staging:staging-password-0123@127.0.0.1:${s.port}/0`);
  const verdict = await new Fence({ env: 'staging', adopt: true }).check(viaAcl);
  assert.equal(verdict.outcome, 'mismatch');
  assert.equal(verdict.stamp?.env, 'production');
  assert.equal(await admin.exists('staging:firebreak:stamp'), 0, 'adopt did not stamp it');
});

test('FencedRedis keeps keys under the prefix and is refused at open on a server of another environment', async () => {
  const s = await server('fence-wrapper');
  await new Fence({ env: 'staging' }).stamp(resource(s.url()));
  const fence = new Fence({ env: 'staging' });
  const fenced = await openFenced({ url: s.url(), fence, name: 'cache' });
  const r = await fenced.client();
  await r.set('catalog:v1', 'x');
  assert.equal(await connect(s.url()).get('staging:catalog:v1'), 'x');
  await fenced.quit();

  const prod = await server('fence-wrapper-prod');
  await new Fence({ env: 'production' }).stamp(resource(prod.url()));
  const before = await snapshot(connect(prod.url()));
  await assert.rejects(
    openFenced({ url: prod.url(), fence, name: 'cache' }),
    rejectsWith(
      'FB_ENV_MISMATCH',
      /^cache redis:\/\/127\.0\.0\.1:\d+\/0 belongs to environment "production"/,
    ),
  );
  assert.deepEqual(await snapshot(connect(prod.url())), before);
});

test('FencedRedis re-checks on reconnect: a differently-stamped server on the same address is refused, unwritten', async () => {
  const a = await server('fence-reconnect-a');
  await new Fence({ env: 'staging' }).stamp(resource(a.url()));
  const refused: string[] = [];
  const fence = new Fence({ env: 'staging', onRefused: (v) => refused.push(v.stamp?.env ?? 'none') });
  // No automatic retries: the test decides when the client comes back, after the new server is stamped.
  const fenced = await openFenced({
    url: a.url(),
    fence,
    name: 'cache',
    redisOptions: { retryStrategy: () => null },
  });
  await (await fenced.client()).set('k', 'before failover');

  await a.stop();
  const b = await server('fence-reconnect-b', a.port);
  assert.equal(b.port, a.port);
  await new Fence({ env: 'production' }).stamp(resource(b.url()));
  const admin = connect(b.url());
  const before = await snapshot(admin);

  await fenced.redis.connect();
  await assert.rejects(fenced.client(), rejectsWith('FB_ENV_MISMATCH', /"production".*"staging"/));
  await assert.rejects(fenced.client(), rejectsWith('FB_ENV_MISMATCH'), 'refused for good');
  assert.deepEqual(refused, ['production']);
  assert.deepEqual(await snapshot(admin), before, 'the production server saw no write');
  fenced.redis.disconnect();
});
