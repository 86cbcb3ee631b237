import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTransientDbError } from '../../src/db/pgErrors.ts';

test('SQLSTATEs of failover and contention are transient; constraint violations are not', () => {
  for (const code of ['40001', '40P01', '57P01', '57P03', '08006', '53300']) {
    assert.equal(isTransientDbError(Object.assign(new Error('x'), { code, severity: 'ERROR' })), true, code);
  }
  for (const code of ['23505', '23503', '22P02', '42P01']) {
    assert.equal(isTransientDbError(Object.assign(new Error('x'), { code, severity: 'ERROR' })), false, code);
  }
});

test('socket errors and node-postgres connection errors are transient, wrapped or not', () => {
  assert.equal(
    isTransientDbError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    true,
  );
  assert.equal(
    isTransientDbError(new Error('Client has encountered a connection error and is not queryable')),
    true,
  );
  assert.equal(isTransientDbError(new Error('Connection terminated unexpectedly')), true);
  assert.equal(
    isTransientDbError(new Error('outer', { cause: Object.assign(new Error('x'), { code: '57P01' }) })),
    true,
  );
  assert.equal(
    isTransientDbError(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })])),
    true,
  );
});

test('our own errors are not transient', () => {
  assert.equal(isTransientDbError(new Error('no FX snapshot has a rate for XYZ')), false);
  assert.equal(isTransientDbError(new TypeError('cannot read properties of undefined')), false);
  assert.equal(isTransientDbError(undefined), false);
});
