// `firebreak env stamp` and `firebreak env check` as a user runs them: a real
// process, its exit code (0 ok, 3 refused, 1 unreachable, 2 usage) and its
// output, against real Postgres and Redis.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../../src/stack/freePort.ts';
import { freshDatabase } from '../helpers/postgres.ts';
import { sharedRedis } from '../helpers/redis.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function firebreak(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

test('stamp, check, and a refused re-stamp: exit codes 0, 0, 3, 3, and the messages name both environments', async () => {
  const db = await freshDatabase();
  const redis = await sharedRedis();
  const shown = db.replace(':firebreak@', ':***@');

  const stamped = await firebreak(['env', 'stamp', '--env', 'production', db, redis.url()]);
  assert.equal(stamped.code, 0, stamped.stderr);
  assert.match(
    stamped.stdout,
    new RegExp(`^stamped  ${shown.replace(/[/.*]/g, '\\$&')}: now "production"`, 'm'),
  );
  assert.match(
    stamped.stdout,
    /^stamped {2}redis:\/\/127\.0\.0\.1:\d+\/0: now "production" \(stamped at .* by firebreak env stamp/m,
  );
  assert.ok(!stamped.stdout.includes(':firebreak@'), 'no password printed');

  const again = await firebreak(['env', 'stamp', '--env', 'production', db]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^already {2}postgres:\/\/postgres:\*\*\*@/m);

  const ok = await firebreak(['env', 'check', '--env', 'production', db, redis.url()]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, 2);

  const wrong = await firebreak(['env', 'check', '--env', 'staging', db, redis.url()]);
  assert.equal(wrong.code, 3);
  const lines = wrong.stderr.trim().split('\n');
  assert.equal(lines.length, 2, wrong.stderr);
  for (const line of lines)
    assert.match(
      line,
      /^FB_ENV_MISMATCH: .* belongs to environment "production" .*this process runs as "staging"/,
    );

  const restamp = await firebreak(['env', 'stamp', '--env', 'staging', db]);
  assert.equal(restamp.code, 3);
  assert.match(
    restamp.stderr,
    /^FB_ENV_MISMATCH: refusing to stamp postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/t_\w+ as "staging": it belongs to "production"/,
  );
  const json = await firebreak(['env', 'check', '--env', 'staging', '--json', db]);
  assert.equal(json.code, 3);
  const [entry] = JSON.parse(json.stdout) as {
    outcome: string;
    stamp: { env: string };
    error: { code: string };
  }[];
  assert.equal(entry?.outcome, 'mismatch');
  assert.equal(entry?.stamp.env, 'production');
  assert.equal(entry?.error.code, 'FB_ENV_MISMATCH');
});

test('check refuses an unstamped resource (3) unless --adopt, which stamps it; unreachable is 1', async () => {
  const db = await freshDatabase();
  const refused = await firebreak(['env', 'check', '--env', 'dev', db]);
  assert.equal(refused.code, 3);
  assert.match(
    refused.stderr,
    /^FB_ENV_UNSTAMPED: postgres:\/\/postgres:\*\*\*@.* carries no environment stamp/,
  );

  const adopted = await firebreak(['env', 'check', '--env', 'dev', '--adopt', db]);
  assert.equal(adopted.code, 0, adopted.stderr);
  assert.match(adopted.stdout, /^adopted {2}postgres:\/\/postgres:\*\*\*@.*: now "dev"/m);
  assert.equal((await firebreak(['env', 'check', '--env', 'dev', db])).code, 0);

  const port = await freePort();
  const down = await firebreak(['env', 'check', '--env', 'dev', `postgres://u:pw@127.0.0.1:${port}/x`]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    new RegExp(`^FB_ENV_CHECK_FAILED: postgres://u:\\*\\*\\*@127\\.0\\.0\\.1:${port}/x: could not connect`),
  );
});

test('--redis-acl creates the environment user, with the password from the environment only', async () => {
  const redis = await sharedRedis('acl');
  const noPassword = await firebreak(['env', 'stamp', '--env', 'staging', '--redis-acl', redis.url()], {
    FIREBREAK_REDIS_ACL_PASSWORD: '',
  });
  assert.equal(noPassword.code, 2);
  assert.match(noPassword.stderr, /^FB_USAGE: --redis-acl: set FIREBREAK_REDIS_ACL_PASSWORD/);

  const password = 'staging-acl-password-42';
  const made = await firebreak(['env', 'stamp', '--env', 'staging', '--redis-acl', redis.url()], {
    FIREBREAK_REDIS_ACL_PASSWORD: password,
  });
  assert.equal(made.code, 0, made.stderr);
  assert.match(
    made.stdout,
    /^ACL user "staging" created on redis:\/\/127\.0\.0\.1:\d+\/0: keys and channels staging:\*/m,
  );
  assert.ok(!made.stdout.includes(password) && !made.stderr.includes(password));

  const user = new Redis(`redis://staging:${password}@127.0.0.1:${redis.port}/0`, {
    maxRetriesPerRequest: 0,
  });
  user.on('error', () => {});
  try {
    assert.equal(await user.set('staging:x', '1'), 'OK');
    await assert.rejects(user.set('production:x', '1'), /NOPERM/);
  } finally {
    user.disconnect();
  }
  const check = await firebreak([
    'env',
    'check',
    '--env',
    'staging',
    `redis://staging:${password}@127.0.0.1:${redis.port}/0`,
  ]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /^ok +redis:\/\/staging:\*\*\*@127\.0\.0\.1:\d+\/0: "staging"/m);
});

test('usage errors exit 2 and say what is wrong', async () => {
  const cases: [string[], RegExp][] = [
    [['env'], /^FB_USAGE: firebreak env: expected "stamp" or "check"/],
    [['env', 'check', 'postgres://h/db'], /^FB_USAGE: --env: is required/],
    [['env', 'check', '--env', 'Prod', 'postgres://h/db'], /^FB_USAGE: --env: must be an environment name/],
    [['env', 'check', '--env', 'prod'], /^FB_USAGE: firebreak env: check needs at least one resource URL/],
    [
      ['env', 'check', '--env', 'prod', 'mysql://h/db'],
      /^FB_USAGE: mysql:\/\/h\/db: the fence does not know the scheme "mysql"/,
    ],
    [
      ['env', 'stamp', '--env', 'prod', '--adopt', 'postgres://h/db'],
      /^FB_USAGE: firebreak env: --adopt is for check/,
    ],
    [
      ['env', 'check', '--env', 'prod', '--force', 'postgres://h/db'],
      /^FB_USAGE: firebreak env: Unknown option '--force'/,
    ],
  ];
  for (const [args, pattern] of cases) {
    const r = await firebreak(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
  }
});
