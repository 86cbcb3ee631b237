// The fence's resource URLs: typed by scheme, always shown redacted; and the
// verdict a set of stamps makes. Pure functions, no servers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFirebreakError } from '../../src/errors/index.ts';
import { isLoopback, parseResourceUrl, redactUrl } from '../../src/guardrails/fence/resourceUrl.ts';
import { decide, refusalError } from '../../src/guardrails/fence/verdict.ts';

test('resource URLs are typed by their scheme', () => {
  const pg = parseResourceUrl('postgres://svc:s3cret@db.internal:5432/ledger');
  assert.equal(pg.kind, 'postgres');
  assert.equal(pg.display, 'postgres://svc:***@db.internal:5432/ledger');
  assert.equal(parseResourceUrl('postgresql://db/ledger').kind, 'postgres');

  const redis = parseResourceUrl('rediss://staging:pw@cache.internal:6380/2');
  assert.equal(redis.kind, 'redis');
  assert.equal(redis.display, 'rediss://staging:***@cache.internal:6380/2');

  const kafka = parseResourceUrl('kafka://b-1.msk:9092,b-2.msk:9092');
  assert.deepEqual(kafka.kind === 'kafka' && kafka.brokers, ['b-1.msk:9092', 'b-2.msk:9092']);

  const sqs = parseResourceUrl('https://sqs.eu-west-1.amazonaws.com/123456789012/checkout-payments.fifo');
  assert.ok(sqs.kind === 'sqs');
  assert.equal(sqs.region, 'eu-west-1');
  assert.equal(sqs.endpoint, 'https://sqs.eu-west-1.amazonaws.com');
  assert.equal(sqs.queueUrl, 'https://sqs.eu-west-1.amazonaws.com/123456789012/checkout-payments.fifo');

  const local = parseResourceUrl('http://localhost:4566/000000000000/payments.fifo?region=ap-south-1', {
    env: {},
  });
  assert.ok(local.kind === 'sqs');
  assert.equal(local.region, 'ap-south-1');
  assert.equal(local.queueUrl, 'http://localhost:4566/000000000000/payments.fifo');
  const defaulted = parseResourceUrl('http://localhost:9324/000000000000/q', {
    env: { AWS_REGION: 'us-west-2' },
  });
  assert.equal(defaulted.kind === 'sqs' && defaulted.region, 'us-west-2');
});

test('a URL the fence cannot use is refused with the code asked for, redacted, saying what it should be', () => {
  const cases: [string, RegExp][] = [
    ['mysql://u:pw@h/db', /does not know the scheme "mysql"/],
    ['postgres://u:pw@h', /names its database/],
    ['kafka://b-1:9092,', /kafka:\/\/host:port\[,host:port\.\.\.\]/],
    ['kafka://u:pw@b-1:9092', /carry no credentials/],
    ['https://example.com/not/a/queue/at/all', /SQS queue URL/],
    ['not a url', /not a URL/],
  ];
  for (const [url, why] of cases) {
    assert.throws(
      () => parseResourceUrl(url, { name: 'LEDGER_DATABASE_URL', errorCode: 'FB_CONFIG_INVALID' }),
      (err: unknown) => {
        assert.ok(isFirebreakError(err));
        assert.equal(err.code, 'FB_CONFIG_INVALID');
        assert.match(err.message, /^LEDGER_DATABASE_URL: /);
        assert.match(err.message, why);
        assert.doesNotMatch(err.message, /pw/, 'no password in the message');
        return true;
      },
      url,
    );
  }
});

test('redaction hides passwords and secret-looking query parameters, and keeps the rest', () => {
  assert.equal(
    redactUrl('postgres://u:p%40ss@h:5432/db?sslmode=require&password=x'),
    'postgres://u:***@h:5432/db?sslmode=require&password=***',
  );
  assert.equal(redactUrl('redis://:onlypass@h:6379/0'), 'redis://:***@h:6379/0');
  assert.equal(redactUrl('kafka://user:pw@b:9092,c:9092'), 'kafka://user:***@b:9092,c:9092');
  assert.equal(redactUrl('postgres://h/db'), 'postgres://h/db');
});

test('only resources on this machine count as loopback (what an unconfigured dev process may adopt)', () => {
  assert.ok(isLoopback(parseResourceUrl('postgres://u@127.0.0.1:5/db')));
  assert.ok(isLoopback(parseResourceUrl('redis://localhost:6379/0')));
  assert.ok(isLoopback(parseResourceUrl('kafka://127.0.0.1:1,localhost:2')));
  assert.ok(isLoopback(parseResourceUrl('postgres:///db?host=/var/run/postgresql')));
  assert.ok(!isLoopback(parseResourceUrl('postgres://u@db.prod.internal/db')));
  assert.ok(!isLoopback(parseResourceUrl('kafka://127.0.0.1:1,b-1.msk:9092')));
  assert.ok(!isLoopback(parseResourceUrl('https://sqs.us-east-1.amazonaws.com/1/q')));
});

test('the verdict: any stamp of another environment refuses, even beside ours; none is unstamped', () => {
  const s = (env: string) => ({ env, stampedAt: null, stampedBy: null });
  assert.deepEqual(decide('staging', [s('staging')]), { outcome: 'ok', stamp: s('staging') });
  assert.deepEqual(decide('staging', [s('staging'), s('production')]), {
    outcome: 'mismatch',
    stamp: s('production'),
  });
  assert.deepEqual(decide('staging', []), { outcome: 'unstamped', stamp: null });

  const resource = parseResourceUrl('postgres://svc:hunter2@db:5432/ledger', { name: 'ledger database' });
  const mismatch = refusalError({
    resource,
    expected: 'staging',
    outcome: 'mismatch',
    stamp: { env: 'production', stampedAt: '2026-01-01T00:00:00.000Z', stampedBy: 'ops' },
  });
  assert.equal(mismatch.code, 'FB_ENV_MISMATCH');
  assert.match(
    mismatch.message,
    /^ledger database postgres:\/\/svc:\*\*\*@db:5432\/ledger belongs to environment "production"/,
  );
  assert.match(mismatch.message, /this process runs as "staging"/);
  assert.doesNotMatch(mismatch.message, /hunter2/);
  const unstamped = refusalError({ resource, expected: 'staging', outcome: 'unstamped', stamp: null });
  assert.equal(unstamped.code, 'FB_ENV_UNSTAMPED');
  assert.match(unstamped.message, /firebreak env stamp --env staging/);
});
