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
import { OutsideRootError, type ObjectStore } from '../store/object-store.js';
import { MAX_LINE_BYTES } from './stage-sql.js';

export interface LocalFile {
  path: string;
  /** A problem with the file as a whole; the rows read before it (if any) are still staged. */
  problem?: { reason: string; raw: string | null };
  /** False when nothing at all can be read from the file. */
  readable: boolean;
}

/** Characters of a truncated stream's incomplete last line kept in the reject, at most. */
const TAIL_SHOWN = 4096;
const SEARCH_WINDOW = 1 << 20;
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const BOM = Buffer.from('\ufeff');
const NEWLINE = Buffer.from('\n');
/** Longer lines are cut to one byte past the limit, which the engine then rejects. */
const LINE_KEPT = MAX_LINE_BYTES + 1;
/**
 * A gzip file may decompress to this many times its size (CSV extracts compress 5 to 20 times)
 * or to MIN_DECOMPRESSION_CAP bytes, whichever is more; past that it is taken for a bomb.
 */
export const MAX_DECOMPRESSION_RATIO = 200;
export const MIN_DECOMPRESSION_CAP = 256 * 1024 * 1024;
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
export class NormalizeLines extends Transform {
  private pendingCr = false;
  private atLineStart = true;
  /** Bytes of the current line passed on so far. */
  private lineLength = 0;

  override _transform(input: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // Long lines are cut first, so that a line of a billion NUL bytes costs a read, not a rewrite.
    const chunk = this.capLines(input);
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

  /**
   * Cuts every line to LINE_KEPT bytes of input: one byte over the limit, so the engine still
   * rejects it as "line longer than …" and counts it as one row, whatever its length (past ~32 MB
   * DuckDB loses such a line without a trace). Lines under the limit pass untouched.
   */
  private capLines(out: Buffer): Buffer {
    const first = out.indexOf(LF);
    const last = out.lastIndexOf(LF);
    const fits = out.length <= LINE_KEPT && this.lineLength + (first < 0 ? out.length : first) <= LINE_KEPT;
    if (fits) {
      this.lineLength = first < 0 ? this.lineLength + out.length : out.length - last - 1;
      return out;
    }
    const kept: Buffer[] = [];
    for (let at = 0; at <= out.length; ) {
      const newline = out.indexOf(LF, at);
      const end = newline < 0 ? out.length : newline;
      const room = Math.max(0, LINE_KEPT - this.lineLength);
      kept.push(out.subarray(at, Math.min(end, at + room)));
      this.lineLength += Math.min(end - at, room);
      if (newline < 0) break;
      kept.push(NEWLINE);
      this.lineLength = 0;
      at = newline + 1;
    }
    return Buffer.concat(kept);
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingCr ? CR_SYMBOL : undefined);
  }
}

/**
 * Gunzip that ends its output where the input breaks off instead of failing the pipeline (whose
 * error would destroy every stage, discarding decoded lines still on their way to the file), and
 * stops a decompression bomb. The problem is kept in `failure` for the caller to name.
 *
 * zlib discards the output of the write in which it fails: with a valid member followed by
 * garbage, that is the member's last rows. `failedAt` records where that write began, so that a
 * second pass can feed the same bytes one at a time from there and lose nothing before the damage.
 */
class TolerantGunzip extends Transform {
  failure?: string;
  failedAt?: number;
  /** Stopped at the decompression cap: nothing of the file is to be loaded. */
  bomb = false;
  private readonly inner = createGunzip();
  private consumed = 0;
  private decoded = 0;
  /** The callback of the write zlib is working on: after an error zlib never calls it, the error does. */
  private pending?: () => void;

  constructor(private readonly maxDecoded: number, private readonly oneByteFrom = Infinity) {
    super();
    this.inner.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      this.decoded += chunk.length;
      this.push(chunk);
      if (this.decoded > this.maxDecoded) {
        this.failure = `decompressed past ${this.maxDecoded} bytes, the cap for this file (${MAX_DECOMPRESSION_RATIO} times its size, at least ${MIN_DECOMPRESSION_CAP}): taken for a decompression bomb, not loaded`;
        this.bomb = true;
        this.inner.destroy();
        this.release();
      }
    });
    this.inner.on('error', (error: Error & { code?: string }) => {
      if (!this.failure) {
        const truncated = error.code === 'Z_BUF_ERROR';
        this.failure = truncated ? 'gzip truncated: the file ends mid-stream' : `gzip damaged: ${error.message}`;
        // A truncated file fails at its end, where nothing follows to recover.
        if (!truncated) this.failedAt = this.consumed;
      }
      this.release();
    });
  }

  private release(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.();
  }

  private decode(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.inner.write(bytes, () => {
        if (!this.failure) this.consumed += bytes.length;
        this.release();
      });
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void this.feed(chunk).then(() => callback());
  }

  private async feed(chunk: Buffer): Promise<void> {
    const start = this.consumed;
    const slow = Math.max(0, this.oneByteFrom - start);
    if (slow >= chunk.length || this.failure) return this.failure ? undefined : this.decode(chunk);
    if (slow > 0) await this.decode(chunk.subarray(0, slow));
    for (let at = slow; at < chunk.length && !this.failure; at++) await this.decode(chunk.subarray(at, at + 1));
  }

  override _flush(callback: TransformCallback): void {
    if (this.failure) return callback();
    this.pending = callback;
    this.inner.once('end', () => this.release());
    this.inner.end();
  }
}

/**
 * Whether a plain file holds anything {@link NormalizeLines} would change (most extracts do not):
 * CR, NUL, BOM, or a line longer than the limit. Chunks are at most MAX_LINE_BYTES long, so only
 * a line running across chunks can be too long: two searches a chunk tell.
 */
async function needsNormalizing(path: string): Promise<boolean> {
  let sinceNewline = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: MAX_LINE_BYTES }) as AsyncIterable<Buffer>) {
    if (chunk.indexOf(CR) >= 0 || chunk.indexOf(NUL) >= 0 || chunk.indexOf(BOM) >= 0) return true;
    const first = chunk.indexOf(LF);
    if (sinceNewline + (first < 0 ? chunk.length : first) > MAX_LINE_BYTES) return true;
    sinceNewline = first < 0 ? sinceNewline + chunk.length : chunk.length - chunk.lastIndexOf(LF) - 1;
  }
  return false;
}

export async function localize(store: ObjectStore, key: string, scratchDir: string, index: number, text: boolean, etag?: string): Promise<LocalFile> {
  let path: string;
  try {
    path = await store.localPath(key, scratchDir, etag);
  } catch (error) {
    if (error instanceof OutsideRootError) return { path: '', readable: false, problem: { reason: 'a symbolic link to a file outside the source: not read', raw: null } };
    throw error;
  }
  const gzipped = key.toLowerCase().endsWith('.gz');
  // Reading is cheaper than copying: a clean plain file is read where it lies (a link in scratch).
  if (!gzipped && (!text || !(await needsNormalizing(path)))) return nonEmpty(path);
  const target = join(scratchDir, `extract-${index}`);
  const maxDecoded = Math.max(MIN_DECOMPRESSION_CAP, MAX_DECOMPRESSION_RATIO * (await stat(path)).size);
  const copy = async (gunzip?: TolerantGunzip) => {
    await pipeline([createReadStream(path), ...(gunzip ? [gunzip] : []), ...(text ? [new NormalizeLines()] : []), createWriteStream(target)]);
    return gunzip;
  };
  // A damaged stream still leaves its complete lines in the target; the second pass all of them.
  let gunzip = await copy(gzipped ? new TolerantGunzip(maxDecoded) : undefined);
  if (gunzip?.failedAt !== undefined) gunzip = await copy(new TolerantGunzip(maxDecoded, gunzip.failedAt));
  if (!gunzip?.failure) return nonEmpty(target);
  // A bomb's first rows are not loaded either: a file cut at an arbitrary cap is no extract, and
  // one re-delivered whole must not find half of itself already taken.
  if (gunzip.bomb) return { path: target, readable: false, problem: { reason: gunzip.failure, raw: null } };
  const { size } = await stat(target);
  if (size === 0) return { path: target, readable: false, problem: { reason: `unreadable gzip (${gunzip.failure})`, raw: null } };
  return { path: target, readable: true, problem: await dropIncompleteLastLine(target, gunzip.failure) };
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
    // The last line can be longer than one window (a line cut at LINE_KEPT bytes, its NUL bytes
    // shown as three-byte symbols), so the search goes back window by window.
    let lineStart = 0;
    for (let end = size; end > 0; end -= SEARCH_WINDOW) {
      const buffer = Buffer.alloc(Math.min(end, SEARCH_WINDOW));
      await handle.read(buffer, 0, buffer.length, end - buffer.length);
      const newline = buffer.lastIndexOf(LF);
      if (newline >= 0) {
        lineStart = end - buffer.length + newline + 1;
        break;
      }
    }
    if (lineStart === size) return { reason: `${reason}; rows after the last complete line are lost`, raw: null };
    // Shown from the line's start: a cut in the middle of a character can only be at the end.
    const shown = Buffer.alloc(Math.min(size - lineStart, 4 * TAIL_SHOWN));
    await handle.read(shown, 0, shown.length, lineStart);
    await truncate(path, lineStart);
    return { reason: `${reason}; incomplete last line not loaded`, raw: shown.toString('utf8').slice(0, TAIL_SHOWN) };
  } finally {
    await handle.close();
  }
}
