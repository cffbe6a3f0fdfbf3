/**
 * Brings one extract file to a local, uncompressed path the engine can read in parallel, and names
 * whole-file problems (empty, not gzip, truncated gzip) instead of failing the run.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip } from 'node:zlib';
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

export async function localize(store: ObjectStore, key: string, scratchDir: string, index: number): Promise<LocalFile> {
  const path = await store.localPath(key, scratchDir);
  if (!key.toLowerCase().endsWith('.gz')) {
    const { size } = await stat(path);
    return size === 0 ? { path, readable: false, problem: { reason: 'empty file', raw: null } } : { path, readable: true };
  }
  // Decompressing here (native zlib) rather than in the engine lets the engine split the text
  // across threads, and lets a truncated stream keep the rows that did arrive.
  const target = join(scratchDir, `extract-${index}.txt`);
  try {
    // SYNC_FLUSH makes zlib hand over everything it decoded before the stream broke off.
    await pipeline(createReadStream(path), createGunzip({ finishFlush: constants.Z_SYNC_FLUSH }), createWriteStream(target));
  } catch (error) {
    const message = (error as Error).message;
    const { size } = await stat(target).catch(() => ({ size: 0 }));
    if (size === 0) return { path: target, readable: false, problem: { reason: `unreadable gzip: ${message}`, raw: null } };
    return { path: target, readable: true, problem: await dropIncompleteLastLine(target, `gzip truncated: ${message}`) };
  }
  const { size } = await stat(target);
  return size === 0 ? { path: target, readable: false, problem: { reason: 'empty file', raw: null } } : { path: target, readable: true };
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
    const lastNewline = buffer.lastIndexOf(0x0a);
    if (lastNewline === length - 1) return { reason: `${reason}; rows after the last complete line are lost`, raw: null };
    const tail = buffer.subarray(lastNewline + 1);
    await truncate(path, size - tail.length);
    return { reason: `${reason}; incomplete last line not loaded`, raw: tail.toString('utf8').slice(0, TAIL_SHOWN) };
  } finally {
    await handle.close();
  }
}
