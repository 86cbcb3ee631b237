// The sandbox's durable idempotency store: captures.jsonl (see captureRecord.ts)
// plus an in-memory index by idempotency key rebuilt from it on open.
//
// append() resolves only after the line is written and fsync'd, so a response
// sent after it survives a SIGKILL (or power loss) of the sandbox. Appends that
// arrive while a flush is running are written together with one fsync (group
// commit): a drill's burst of captures costs one disk flush per batch, not one
// per capture.
//
// A failed write or fsync leaves the file in an unknown state, so the log stops
// accepting appends (fail-stop) rather than risk acknowledging a result that a
// restart would not find.

import { open, mkdir, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { captureFilePath, encodeCaptureLine, parseCaptureFile, type CaptureRecord } from './captureRecord.ts';

export interface CaptureLogOpenEvents {
  /** The file ended in an unacknowledged partial line, which was cut off. */
  readonly onTornTail?: (info: { path: string; bytes: number }) => void;
  /** A key appeared twice in the file; the first result is kept. */
  readonly onDuplicateKey?: (info: { idempotencyKey: string; kept: string; ignored: string }) => void;
}

interface PendingAppend {
  readonly record: CaptureRecord;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class CaptureLog {
  readonly path: string;
  readonly #file: FileHandle;
  readonly #byKey = new Map<string, CaptureRecord>();
  readonly #all: CaptureRecord[] = [];
  #pending: PendingAppend[] = [];
  #flushing: Promise<void> | undefined;
  #failed: unknown;
  #closed = false;

  private constructor(path: string, file: FileHandle) {
    this.path = path;
    this.#file = file;
  }

  static async open(dataDir: string, events: CaptureLogOpenEvents = {}): Promise<CaptureLog> {
    await mkdir(dataDir, { recursive: true });
    const path = captureFilePath(dataDir);
    let content = Buffer.alloc(0);
    try {
      content = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const parsed = parseCaptureFile(path, content);
    if (parsed.tornBytes > 0) {
      // Cut the torn write off so the next line starts on a line of its own.
      await truncate(path, parsed.completeBytes);
      events.onTornTail?.({ path, bytes: parsed.tornBytes });
    }
    const file = await open(path, 'a');
    try {
      await file.sync();
      // The file's directory entry must be durable too, or a fresh file can vanish.
      const dir = await open(dataDir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      await file.close();
      throw err;
    }
    const log = new CaptureLog(path, file);
    for (const record of parsed.records) {
      const existing = log.#byKey.get(record.idempotencyKey);
      if (existing) {
        events.onDuplicateKey?.({
          idempotencyKey: record.idempotencyKey,
          kept: existing.captureId,
          ignored: record.captureId,
        });
        continue;
      }
      log.#index(record);
    }
    return log;
  }

  get(idempotencyKey: string): CaptureRecord | undefined {
    return this.#byKey.get(idempotencyKey);
  }

  /** Every recorded result, in recording order. */
  list(): readonly CaptureRecord[] {
    return this.#all;
  }

  get size(): number {
    return this.#all.length;
  }

  /**
   * Records a result durably. Callers serialise per idempotency key (the
   * sandbox's KeyedMutex); a second result for a known key is refused.
   */
  append(record: CaptureRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('capture log is closed'));
    if (this.#failed !== undefined) {
      return Promise.reject(
        new Error('capture log failed earlier and accepts no more writes', { cause: this.#failed }),
      );
    }
    if (
      this.#byKey.has(record.idempotencyKey) ||
      this.#pending.some((p) => p.record.idempotencyKey === record.idempotencyKey)
    ) {
      return Promise.reject(new Error(`idempotency key ${record.idempotencyKey} already has a result`));
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ record, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#file.close();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          if (this.#failed !== undefined)
            throw new Error('capture log failed earlier', { cause: this.#failed });
          const bytes = Buffer.from(batch.map((p) => encodeCaptureLine(p.record)).join(''), 'utf8');
          let offset = 0;
          while (offset < bytes.length) {
            const { bytesWritten } = await this.#file.write(bytes, offset);
            offset += bytesWritten;
          }
          await this.#file.datasync();
        } catch (err) {
          this.#failed ??= err;
          for (const p of batch) p.reject(err);
          continue;
        }
        for (const p of batch) {
          this.#index(p.record);
          p.resolve();
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  #index(record: CaptureRecord): void {
    this.#byKey.set(record.idempotencyKey, record);
    this.#all.push(record);
  }
}
