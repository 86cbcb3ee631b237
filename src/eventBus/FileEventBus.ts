// The embedded event bus: an append-only JSON lines file, fsync'd before
// publish() resolves. It stands in for Kafka when kcat is not installed, with
// the same contract (src/eventBus/EventBus.ts): durable before ack, order kept,
// at-least-once. One line per record:
//   {"topic":"checkout-events","key":"<creator>","headers":{...},"value":"<envelope JSON>"}
// A crash mid-write can leave a torn last line; it was never acknowledged (the
// relay republishes it), so the reader skips it.

import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type {
  DeclareResult,
  EventBus,
  EventRecord,
  LiveTopic,
  PublishedEvent,
  TopicSpec,
} from './EventBus.ts';

interface FileLine {
  topic: string;
  key: string;
  headers: Record<string, string>;
  value: string;
}

export class FileEventBus implements EventBus {
  readonly kind = 'file' as const;
  readonly path: string;
  private handle: FileHandle | undefined;
  private readonly declared = new Map<string, TopicSpec>();
  /** Publishes are serialised so lines of two calls never interleave. */
  private tail: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  private async file(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a');
    // Make the file's directory entry durable too, or a crash could lose the whole file.
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.handle = handle;
    return handle;
  }

  /** A file has no topics to create: the declaration is remembered so describeTopics can answer. */
  declareTopics(specs: readonly TopicSpec[]): Promise<DeclareResult> {
    const created = specs.filter((s) => !this.declared.has(s.name)).map((s) => s.name);
    for (const s of specs) this.declared.set(s.name, s);
    return Promise.resolve({ created });
  }

  describeTopics(names: readonly string[]): Promise<LiveTopic[]> {
    return Promise.resolve(
      names.map((name) => ({
        name,
        exists: this.declared.has(name),
        partitions: null,
        retentionMs: null,
        unknownBecause:
          'the file sink has one ordered log and keeps everything (no partitions, no retention)',
      })),
    );
  }

  publish(records: readonly EventRecord[]): Promise<void> {
    const run = this.tail.then(() => this.append(records));
    this.tail = run.catch(() => {});
    return run;
  }

  private async append(records: readonly EventRecord[]): Promise<void> {
    if (records.length === 0) return;
    const lines = records
      .map((r) =>
        JSON.stringify({ topic: r.topic, key: r.key, headers: r.headers, value: r.value } satisfies FileLine),
      )
      .join('\n');
    const handle = await this.file();
    await handle.appendFile(`${lines}\n`);
    await handle.datasync();
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle?.close();
    this.handle = undefined;
  }
}

/** Reads back every record of a topic from an event file (offset = line number among its records). */
export async function readEventFile(path: string, topic: string): Promise<PublishedEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: PublishedEvent[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    let parsed: FileLine;
    try {
      parsed = JSON.parse(line) as FileLine;
    } catch (err) {
      // Only the last line can be torn (a crash mid-append); anything else is corruption.
      if (i >= lines.length - 2) continue;
      throw new Error(`${path}:${i + 1} is not a JSON line`, { cause: err });
    }
    if (parsed.topic !== topic) continue;
    out.push({ ...parsed, partition: 0, offset: out.length });
  }
  return out;
}
