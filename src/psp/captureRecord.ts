// The sandbox provider's own record of what it did: captures.jsonl, one JSON
// line per recorded result (captured or declined), appended and fsync'd before
// the response leaves. It is the provider-side truth the auditor reconciles the
// ledger against, so it is read here without going through the sandbox's HTTP
// API (which may be down in the very drill being audited).
//
// Torn tail: a line is written in one write() followed by fsync, and only then
// acknowledged. A final segment with no newline can therefore only be a write
// that never finished, which no client was told about; readers skip it and the
// sandbox truncates it on start. Any other unreadable line is corruption and
// is reported, never skipped.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SUPPORTED_CURRENCIES, type CurrencyCode } from '../money/index.ts';

export const CAPTURE_FILE = 'captures.jsonl';
export const CAPTURE_RECORD_VERSION = 1;

export type CaptureStatus = 'captured' | 'declined';

export interface CaptureRecord {
  readonly captureId: string;
  readonly idempotencyKey: string;
  /** sha256 of the canonical request body; a replay with another body is a conflict. */
  readonly requestHash: string;
  readonly checkoutId: string;
  readonly creatorId: string;
  readonly customerRef: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  readonly status: CaptureStatus;
  /** Set when status is 'declined'. */
  readonly declineCode: string | null;
  readonly createdAt: Date;
}

const LineSchema = z
  .object({
    v: z.literal(CAPTURE_RECORD_VERSION),
    captureId: z.string().min(1),
    idempotencyKey: z.string().min(1),
    requestHash: z.string().regex(/^[0-9a-f]{64}$/),
    checkoutId: z.string().min(1),
    creatorId: z.string().min(1),
    customerRef: z.string().min(1),
    amountMinor: z.string().regex(/^[1-9][0-9]*$/),
    currency: z.enum(SUPPORTED_CURRENCIES as [CurrencyCode, ...CurrencyCode[]]),
    status: z.enum(['captured', 'declined']),
    declineCode: z.string().min(1).nullable(),
    createdAt: z.iso.datetime(),
  })
  .strict();

export function captureFilePath(dataDir: string): string {
  return join(dataDir, CAPTURE_FILE);
}

/** One line, with its trailing newline. */
export function encodeCaptureLine(record: CaptureRecord): string {
  const line: z.input<typeof LineSchema> = {
    v: CAPTURE_RECORD_VERSION,
    captureId: record.captureId,
    idempotencyKey: record.idempotencyKey,
    requestHash: record.requestHash,
    checkoutId: record.checkoutId,
    creatorId: record.creatorId,
    customerRef: record.customerRef,
    amountMinor: record.amountMinor.toString(),
    currency: record.currency,
    status: record.status,
    declineCode: record.declineCode,
    createdAt: record.createdAt.toISOString(),
  };
  return `${JSON.stringify(line)}\n`;
}

export function decodeCaptureLine(text: string): CaptureRecord {
  const line = LineSchema.parse(JSON.parse(text));
  return {
    captureId: line.captureId,
    idempotencyKey: line.idempotencyKey,
    requestHash: line.requestHash,
    checkoutId: line.checkoutId,
    creatorId: line.creatorId,
    customerRef: line.customerRef,
    amountMinor: BigInt(line.amountMinor),
    currency: line.currency,
    status: line.status,
    declineCode: line.declineCode,
    createdAt: new Date(line.createdAt),
  };
}

export interface ParsedCaptureFile {
  readonly records: CaptureRecord[];
  /** Bytes up to and including the last newline: what the file should be truncated to. */
  readonly completeBytes: number;
  /** Bytes after the last newline (an unacknowledged, torn write); 0 when the file ends cleanly. */
  readonly tornBytes: number;
}

export class CaptureFileCorruptError extends Error {
  constructor(path: string, lineNumber: number, cause: unknown) {
    super(`${path}: line ${lineNumber} is not a valid capture record`, { cause });
    this.name = 'CaptureFileCorruptError';
  }
}

export function parseCaptureFile(path: string, content: Buffer): ParsedCaptureFile {
  const lastNewline = content.lastIndexOf(0x0a);
  const completeBytes = lastNewline + 1;
  const text = content.subarray(0, completeBytes).toString('utf8');
  const records: CaptureRecord[] = [];
  const lines = text.split('\n');
  lines.pop(); // the empty string after the final newline
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      records.push(decodeCaptureLine(line));
    } catch (err) {
      throw new CaptureFileCorruptError(path, index + 1, err);
    }
  });
  return { records, completeBytes, tornBytes: content.length - completeBytes };
}

/**
 * Every result the sandbox has recorded in dataDir, in the order it recorded
 * them. An absent file means no captures. Throws CaptureFileCorruptError when
 * a complete line cannot be read.
 */
export async function readCaptureRecord(dataDir: string): Promise<CaptureRecord[]> {
  const path = captureFilePath(dataDir);
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseCaptureFile(path, content).records;
}
