import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileEventBus, readEventFile } from '../../src/eventBus/FileEventBus.ts';
import { eventBusContract } from './eventBusContract.ts';

async function tempFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'firebreak-events-')), 'nested', 'events.jsonl');
}

eventBusContract('file sink', async (t) => {
  const path = await tempFile();
  const bus = new FileEventBus(path);
  t.after(() => bus.close());
  return { bus, read: (topic) => readEventFile(path, topic) };
});

test('file sink: a torn last line (a crash mid-append, never acknowledged) is skipped; a torn line elsewhere is corruption', async (t) => {
  const path = await tempFile();
  const bus = new FileEventBus(path);
  t.after(() => bus.close());
  await bus.publish([{ topic: 'a', key: 'k', eventId: 'e1', value: '{}', headers: { 'event-id': 'e1' } }]);
  await appendFile(path, '{"topic":"a","key":"k","head');
  assert.deepEqual(
    (await readEventFile(path, 'a')).map((e) => e.headers['event-id']),
    ['e1'],
  );
  await writeFile(path, '{"topic":"a"\n{"topic":"a","key":"k","headers":{},"value":"{}"}\n');
  await assert.rejects(readEventFile(path, 'a'), /is not a JSON line/);
});

test('file sink: a file that does not exist yet reads as empty; topics are kept apart', async (t) => {
  const path = await tempFile();
  assert.deepEqual(await readEventFile(path, 'a'), []);
  const bus = new FileEventBus(path);
  t.after(() => bus.close());
  await bus.publish([
    { topic: 'a', key: 'k', eventId: 'e1', value: '{}', headers: {} },
    { topic: 'b', key: 'k', eventId: 'e2', value: '{}', headers: {} },
  ]);
  assert.equal((await readEventFile(path, 'a')).length, 1);
  assert.equal((await readEventFile(path, 'b'))[0]?.offset, 0);
});
