// One encrypted file of a snapshot: a stream of entries (directories and
// files with their modes) encrypted with AES-256-GCM, one key and random
// 96-bit IV per file, the file's role bound in as additional authenticated
// data (a ledger pack cannot be swapped for a queue pack).
//
// Plaintext layout, repeated per entry, then a 0 length as end marker:
//   u32 header length | header JSON {p: path, t: 'd'|'f', m: mode, s: size}
//   | s bytes of content | 32-byte SHA-256 of the content (files only)
// So every file inside carries its own checksum, verified as it is written
// out; the pack file as a whole has a SHA-256 in the manifest (checked before
// anything is decrypted) and the GCM tag (checked at the end).
//
// Why not tar + openssl: neither is a dependency Firebreak can count on with
// the same flags everywhere, and a tar stream would not carry per-file
// checksums. This is ~200 lines of node:crypto and node:fs.

import { createCipheriv, createDecipheriv, createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { fbError } from '../../errors/index.ts';

export interface PackSummary {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly iv: string;
  readonly tag: string;
  readonly entries: number;
  readonly plainBytes: number;
}

interface Header {
  readonly p: string;
  readonly t: 'd' | 'f';
  readonly m: number;
  readonly s: number;
}

export class PackWriter {
  private readonly out: WriteStream;
  private readonly cipher;
  private readonly hash: Hash = createHash('sha256');
  private readonly iv = randomBytes(12);
  private bytes = 0;
  private plainBytes = 0;
  private entries = 0;
  readonly path: string;

  constructor(path: string, key: Buffer, aad: string) {
    this.path = path;
    this.out = createWriteStream(path, { mode: 0o600 });
    this.cipher = createCipheriv('aes-256-gcm', key, this.iv, { authTagLength: 16 });
    this.cipher.setAAD(Buffer.from(aad));
  }

  private async write(plain: Buffer): Promise<void> {
    this.plainBytes += plain.length;
    const enc = this.cipher.update(plain);
    await this.emit(enc);
  }

  private async emit(enc: Buffer): Promise<void> {
    if (enc.length === 0) return;
    this.hash.update(enc);
    this.bytes += enc.length;
    if (!this.out.write(enc)) await once(this.out, 'drain');
  }

  private async header(h: Header): Promise<void> {
    const json = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length);
    await this.write(Buffer.concat([len, json]));
    this.entries++;
  }

  async addDir(path: string, mode: number): Promise<void> {
    await this.header({ p: path, t: 'd', m: mode, s: 0 });
  }

  /** Adds a file of exactly `size` bytes read from `content` (which must yield exactly that many). */
  async addFile(
    path: string,
    mode: number,
    size: number,
    content: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): Promise<void> {
    await this.header({ p: path, t: 'f', m: mode, s: size });
    const sum = createHash('sha256');
    let n = 0;
    for await (const chunk of content) {
      n += chunk.length;
      sum.update(chunk);
      await this.write(chunk);
    }
    if (n !== size) throw new Error(`pack: ${path} yielded ${n} bytes, expected ${size}`);
    await this.write(sum.digest());
  }

  async addBuffer(path: string, mode: number, data: Buffer): Promise<void> {
    await this.addFile(path, mode, data.length, [data]);
  }

  async finish(): Promise<PackSummary> {
    await this.write(Buffer.alloc(4)); // end marker
    await this.emit(this.cipher.final());
    const tag = this.cipher.getAuthTag();
    this.out.end();
    await once(this.out, 'finish');
    return {
      file: this.path,
      bytes: this.bytes,
      sha256: this.hash.digest('hex'),
      iv: this.iv.toString('hex'),
      tag: tag.toString('hex'),
      entries: this.entries,
      plainBytes: this.plainBytes,
    };
  }

  /** Abandons the pack (the caller removes the file). */
  destroy(): void {
    this.out.destroy();
  }
}

const corrupt = (file: string, what: string, cause?: unknown) =>
  fbError(
    'FB_SNAPSHOT_CORRUPT',
    `${file}: ${what}. Nothing was restored; use another copy of the snapshot.`,
    {
      cause,
    },
  );

/** SHA-256 of a whole file, hex, and its size. */
export async function fileSha256(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private readonly source: AsyncIterator<Buffer>;
  private buffered: Buffer[] = [];
  private length = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.source = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n) {
      const next = await this.source.next();
      if (next.done) return false;
      this.buffered.push(next.value);
      this.length += next.value.length;
    }
    return true;
  }

  async exact(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined;
    // Join only when the bytes span chunks: one copy per chunk boundary, not per read.
    if (this.buffered.length > 1) this.buffered = [Buffer.concat(this.buffered)];
    const head = this.buffered[0] ?? Buffer.alloc(0);
    const rest = head.subarray(n);
    this.buffered = rest.length ? [rest] : [];
    this.length -= n;
    return head.subarray(0, n);
  }

  /** Yields the next n bytes in chunks as they arrive. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.length === 0 && !(await this.fill(1))) throw new Error('pack ends inside a file');
      if (this.buffered.length > 1) this.buffered = [Buffer.concat(this.buffered)];
      const head = this.buffered[0]!;
      const take = head.subarray(0, Math.min(left, head.length));
      const rest = head.subarray(take.length);
      this.buffered = rest.length ? [rest] : [];
      this.length = rest.length;
      left -= take.length;
      yield take;
    }
  }
}

/** Where an entry goes; undefined drops it. */
export type EntryTarget = (path: string) => string | undefined;

/**
 * Decrypts a pack and writes its entries where `target` says, verifying each
 * file's SHA-256 and, at the end, the GCM tag. The caller checks the pack
 * file's own SHA-256 first (fileSha256) and removes everything on error.
 */
export async function extractPack(o: {
  readonly path: string;
  readonly label: string;
  readonly key: Buffer;
  readonly aad: string;
  readonly iv: string;
  readonly tag: string;
  readonly target: EntryTarget;
  readonly owner?: { uid: number; gid: number };
}): Promise<{ entries: number; plainBytes: number }> {
  const decipher = createDecipheriv('aes-256-gcm', o.key, Buffer.from(o.iv, 'hex'), { authTagLength: 16 });
  decipher.setAAD(Buffer.from(o.aad));
  decipher.setAuthTag(Buffer.from(o.tag, 'hex'));
  const input = createReadStream(o.path, { highWaterMark: 1 << 20 });
  async function* plain(): AsyncGenerator<Buffer> {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const out = decipher.update(chunk);
      if (out.length) yield out;
    }
    let last: Buffer;
    try {
      last = decipher.final();
    } catch (err) {
      throw corrupt(
        o.label,
        'AES-256-GCM authentication tag does not match (wrong key or changed file)',
        err,
      );
    }
    if (last.length) yield last;
  }
  const reader = new ByteReader(plain());
  let entries = 0;
  let plainBytes = 0;
  try {
    for (;;) {
      const lenBuf = await reader.exact(4);
      if (!lenBuf) throw corrupt(o.label, 'pack ends without its end marker');
      const len = lenBuf.readUInt32BE(0);
      if (len === 0) break;
      if (len > 65_536) throw corrupt(o.label, 'an entry header is too long');
      const h = JSON.parse((await reader.exact(len))?.toString('utf8') ?? 'null') as Header | null;
      if (!h || typeof h.p !== 'string' || !safeRelative(h.p) || !Number.isSafeInteger(h.s) || h.s < 0)
        throw corrupt(o.label, 'an entry header is malformed');
      entries++;
      const dest = o.target(h.p);
      if (h.t === 'd') {
        if (dest) {
          await mkdir(dest, { recursive: true, mode: h.m & 0o7777 });
          if (o.owner) await chown(dest, o.owner.uid, o.owner.gid);
        }
        continue;
      }
      const sum = createHash('sha256');
      let out: WriteStream | undefined;
      if (dest) {
        await mkdir(dirname(dest), { recursive: true });
        out = createWriteStream(dest, { mode: h.m & 0o7777 });
      }
      for await (const chunk of reader.chunks(h.s)) {
        sum.update(chunk);
        plainBytes += chunk.length;
        if (out && !out.write(chunk)) await once(out, 'drain');
      }
      if (out) {
        out.end();
        await once(out, 'finish');
        if (o.owner) await chown(dest!, o.owner.uid, o.owner.gid);
      }
      const expected = await reader.exact(32);
      if (!expected || !expected.equals(sum.digest()))
        throw corrupt(o.label, `the SHA-256 of ${h.p} inside the pack does not match`);
    }
    // Drain to the end so the tag is checked even if bytes follow the end marker.
    if (await reader.exact(1)) throw corrupt(o.label, 'bytes follow the end marker');
  } catch (err) {
    input.destroy();
    if ((err as { code?: string }).code === 'FB_SNAPSHOT_CORRUPT') throw err;
    throw corrupt(o.label, `does not decrypt to a valid pack (${(err as Error).message})`, err);
  }
  return { entries, plainBytes };
}

function safeRelative(p: string): boolean {
  if (p === '' || isAbsolute(p) || p.includes('\0')) return false;
  const n = normalize(p);
  return n !== '..' && !n.startsWith('../') && !n.startsWith('/');
}

/** An entry target that puts paths under `prefix/` into `dir`. */
export function under(prefix: string, dir: string): EntryTarget {
  return (p) =>
    p === prefix ? dir : p.startsWith(`${prefix}/`) ? join(dir, p.slice(prefix.length + 1)) : undefined;
}
