// captures.jsonl: the format, the torn tail, corruption, and the log's
// refusal to hold two results for one key.

// node:test's describe/it return promises that the runner itself awaits.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { CaptureLog } from '../../src/psp/captureLog.ts';
import {
  CaptureFileCorruptError,
  captureFilePath,
  decodeCaptureLine,
  encodeCaptureLine,
  readCaptureRecord,
  type CaptureRecord,
} from '../../src/psp/captureRecord.ts';
import { withDataDir } from './helpers.ts';

function record(key: string, overrides: Partial<CaptureRecord> = {}): CaptureRecord {
  return {
    captureId: `cap_${key}`,
    idempotencyKey: key,
    requestHash: 'a'.repeat(64),
    checkoutId: '00000000-0000-4000-8000-000000000001',
    creatorId: '00000000-0000-4000-8000-000000000002',
    customerRef: 'cus_1',
    amountMinor: 1_000_000_000_000n,
    currency: 'KWD',
    status: 'captured',
    declineCode: null,
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    ...overrides,
  };
}

describe('capture record', () => {
  it('round-trips a record through one line, amounts as bigint', () => {
    const r = record('k1', { status: 'declined', declineCode: 'card_declined' });
    const line = encodeCaptureLine(r);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    assert.match(line, /"amountMinor":"1000000000000"/);
    assert.deepEqual(decodeCaptureLine(line), r);
  });

  it('reads an absent file as no captures', () =>
    withDataDir(async (dataDir) => {
      assert.deepEqual(await readCaptureRecord(dataDir), []);
    }));

  it('skips a torn last line, and the log cuts it off on open', () =>
    withDataDir(async (dataDir) => {
      const path = captureFilePath(dataDir);
      const whole = encodeCaptureLine(record('k1'));
      await writeFile(path, whole + encodeCaptureLine(record('k2')).slice(0, 40));
      assert.deepEqual(
        (await readCaptureRecord(dataDir)).map((r) => r.idempotencyKey),
        ['k1'],
      );
      const torn: number[] = [];
      const log = await CaptureLog.open(dataDir, { onTornTail: (info) => torn.push(info.bytes) });
      assert.deepEqual(torn, [40]);
      assert.equal(await readFile(path, 'utf8'), whole);
      await log.append(record('k2'));
      await log.close();
      assert.deepEqual(
        (await readCaptureRecord(dataDir)).map((r) => r.idempotencyKey),
        ['k1', 'k2'],
      );
    }));

  it('reports a corrupt complete line instead of skipping it', () =>
    withDataDir(async (dataDir) => {
      const path = captureFilePath(dataDir);
      await writeFile(path, encodeCaptureLine(record('k1')) + '{"v":1}\n' + encodeCaptureLine(record('k3')));
      await assert.rejects(readCaptureRecord(dataDir), (err: Error) => {
        assert.ok(err instanceof CaptureFileCorruptError);
        assert.match(err.message, /line 2/);
        return true;
      });
      await assert.rejects(CaptureLog.open(dataDir), CaptureFileCorruptError);
    }));

  it('holds one result per key and keeps the first when the file has two', () =>
    withDataDir(async (dataDir) => {
      const log = await CaptureLog.open(dataDir);
      await log.append(record('k1'));
      await assert.rejects(log.append(record('k1', { captureId: 'cap_other' })), /already has a result/);
      await log.close();
      await appendFile(captureFilePath(dataDir), encodeCaptureLine(record('k1', { captureId: 'cap_dup' })));
      const duplicates: string[] = [];
      const reopened = await CaptureLog.open(dataDir, { onDuplicateKey: (d) => duplicates.push(d.ignored) });
      assert.deepEqual(duplicates, ['cap_dup']);
      assert.equal(reopened.get('k1')?.captureId, 'cap_k1');
      await reopened.close();
    }));

  it('refuses appends after close', () =>
    withDataDir(async (dataDir) => {
      const log = await CaptureLog.open(dataDir);
      await log.close();
      await assert.rejects(log.append(record('k1')), /closed/);
    }));
});
