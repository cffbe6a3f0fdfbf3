/**
 * Brings one extract file to a local path the engine can read: text extracts are decompressed and
 * their line endings normalised on the way; whole-file problems (empty, not gzip, truncated gzip)
 * are named instead of failing the run.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ObjectStore } from '../store/object-store.js';

export interface LocalFile {
  path: string;
  /** A problem with the file as a whole; the rows read before it (if any) are still staged. */
  problem?: { reason: string; raw: string | null };
  /** False when nothing at all can be read from the file. */
  readable: boolean;
}

/** Bytes of a truncated stream's incomplete last line kept in the reject, at most. */
const TAIL_SHOWN = 4096;
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const BOM = Buffer.from('\ufeff');
/** A lone carriage return becomes the visible symbol ␍ (U+240D): data, not a line break. */
const CR_SYMBOL = Buffer.from('\u240d');
/** NUL becomes ␀ (U+2400): the engine takes a NUL byte for its "no quote" marker and loses the line. */
const NUL_SYMBOL = Buffer.from('\u2400');

/**
 * Lines end at LF, as for `wc -l` and `sed -n Np`; CRLF becomes LF. DuckDB's reader would treat a
 * lone CR as a line break too, miscount lines in files with mixed endings, and drop lines holding
 * NUL bytes, so those bytes are replaced by visible symbols (the line is then kept or rejected).
 * Byte-order marks at the start of a line (concatenated extracts) are removed.
 */
export class NormalizeNewlines extends Transform {
  private pendingCr = false;
  private atLineStart = true;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const parts: Buffer[] = [];
    let start = 0;
    if (this.pendingCr) {
      if (chunk[0] !== LF) parts.push(CR_SYMBOL);
      this.pendingCr = false;
    }
    // Jump between occurrences with native indexOf: CRLF files take this path on every chunk.
    let cr = chunk.indexOf(CR);
    let nul = chunk.indexOf(NUL);
    let bom = chunk.indexOf(BOM);
    while (cr >= 0 || nul >= 0 || bom >= 0) {
      const i = Math.min(...[cr, nul, bom].filter((at) => at >= 0));
      if (i === bom) {
        bom = chunk.indexOf(BOM, i + BOM.length);
        const lineStart = i === 0 ? this.atLineStart : chunk[i - 1] === LF;
        if (!lineStart) continue;
        parts.push(chunk.subarray(start, i));
        start = i + BOM.length;
        continue;
      }
      parts.push(chunk.subarray(start, i));
      start = i + 1;
      if (i === nul) {
        parts.push(NUL_SYMBOL);
        nul = chunk.indexOf(NUL, start);
        continue;
      }
      if (i === chunk.length - 1) this.pendingCr = true;
      else if (chunk[i + 1] !== LF) parts.push(CR_SYMBOL);
      cr = chunk.indexOf(CR, start);
    }
    if (chunk.length > 0) this.atLineStart = chunk[chunk.length - 1] === LF;
    done(null, parts.length === 0 ? chunk : Buffer.concat([...parts, chunk.subarray(start)]));
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingCr ? CR_SYMBOL : undefined);
  }
}

/** Whether a plain file holds anything {@link NormalizeNewlines} would change (most extracts do not). */
/**
 * Gunzip that ends its output where the input breaks off instead of failing the pipeline: a
 * pipeline's error destroys every stage, discarding decoded lines still on their way to the file
 * (how many depended on timing). The error is kept in `failure` for the caller to name.
 */
class TolerantGunzip extends Transform {
  failure?: Error;
  private readonly inner = createGunzip();

  constructor() {
    super();
    // zlib hands over what it decoded before it reports an error on the same input.
    this.inner.on('data', (chunk: Buffer) => this.push(chunk));
    this.inner.on('error', (error: Error) => (this.failure ??= error));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.failure) return callback();
    this.inner.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    if (this.failure) return callback();
    const done = () => callback();
    this.inner.once('end', done).once('error', done);
    this.inner.end();
  }
}

async function needsNormalizing(path: string): Promise<boolean> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    if (chunk.indexOf(CR) >= 0 || chunk.indexOf(NUL) >= 0 || chunk.indexOf(BOM) >= 0) return true;
  }
  return false;
}

export async function localize(store: ObjectStore, key: string, scratchDir: string, index: number, text: boolean, etag?: string): Promise<LocalFile> {
  const path = await store.localPath(key, scratchDir, etag);
  const gzipped = key.toLowerCase().endsWith('.gz');
  // Reading is cheaper than copying: a clean plain file is used where it lies.
  if (!gzipped && (!text || !(await needsNormalizing(path)))) return nonEmpty(path);
  const target = join(scratchDir, `extract-${index}`);
  // A truncated stream still leaves its complete lines in the target.
  const gunzip = gzipped ? new TolerantGunzip() : undefined;
  await pipeline([createReadStream(path), ...(gunzip ? [gunzip] : []), ...(text ? [new NormalizeNewlines()] : []), createWriteStream(target)]);
  if (!gunzip?.failure) return nonEmpty(target);
  const { message } = gunzip.failure;
  const { size } = await stat(target);
  if (size === 0) return { path: target, readable: false, problem: { reason: `unreadable gzip: ${message}`, raw: null } };
  return { path: target, readable: true, problem: await dropIncompleteLastLine(target, `gzip truncated: ${message}`) };
}

async function nonEmpty(path: string): Promise<LocalFile> {
  const { size } = await stat(path);
  return size === 0 ? { path, readable: false, problem: { reason: 'empty file', raw: null } } : { path, readable: true };
}

/**
 * A truncated stream may end mid-line; a cut line can still parse (an amount of "12.3" cut from
 * "12.34"), so it is removed from the file and kept as the raw text of the file-level reject.
 */
async function dropIncompleteLastLine(path: string, reason: string): Promise<{ reason: string; raw: string | null }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 1 << 20);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lastNewline = buffer.lastIndexOf(LF);
    if (lastNewline === length - 1) return { reason: `${reason}; rows after the last complete line are lost`, raw: null };
    const tail = buffer.subarray(lastNewline + 1);
    await truncate(path, size - tail.length);
    return { reason: `${reason}; incomplete last line not loaded`, raw: tail.toString('utf8').slice(0, TAIL_SHOWN) };
  } finally {
    await handle.close();
  }
}
