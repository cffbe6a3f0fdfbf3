import { createHash } from 'node:crypto';
import { join } from 'node:path';
/**
 * The port through which the core reads extracts and publishes results. Keys are `/`-separated
 * paths relative to the store's root (e.g. `transactions/dt=2024-01-01/part-0.csv`).
 * Implementations: {@link LocalObjectStore} (a directory) and {@link S3ObjectStore} (an S3 prefix).
 */
export interface ObjectStore {
  /** Human-readable location of a key, for messages and lineage (a path or an s3:// URL). */
  describe(key: string): string;
  /** Objects under a prefix, sorted by key, recursively. An absent prefix lists nothing. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /**
   * A local file holding the object's bytes, for the embedded engine, at {@link scratchPath}: a
   * local store links the file there, a remote store downloads it. With `etag`, the download
   * fails if the object is no longer that version (lineage records what was listed: it must be
   * what was read).
   */
  localPath(key: string, scratchDir: string, etag?: string): Promise<string>;
  /**
   * Replace the object at `key` with the contents of a local file, atomically: a reader sees the
   * old bytes or the new ones, never a partial file.
   */
  put(key: string, localFile: string): Promise<void>;
  /** Replace the object at `to` with the object at `from`, atomically, and remove `from`. */
  move(from: string, to: string): Promise<void>;
  /**
   * The lock primitive: write a small object only if no object exists at `key`, in one atomic step,
   * so that of any number of concurrent creates of a key exactly one returns true (S3: PutObject
   * with If-None-Match: *; locally link(2), which never replaces a file). False when it exists.
   */
  create(key: string, body: string): Promise<boolean>;
  /** A URL a person can open to read the object: a file URL locally, a presigned HTTPS GET on S3. */
  link(key: string): Promise<string>;
  /** Remove every object under a folder prefix (ending in `/`); nothing to do when there is none. */
  deletePrefix(prefix: string): Promise<void>;
}

/** An object and the facts that identify its version (lineage in `run_manifest`). */
export interface ObjectInfo {
  key: string;
  bytes: number;
  /** S3's ETag; locally a weak tag from size and modification time, as HTTP servers make them. */
  etag: string;
}

/**
 * Where an object's local copy lives: a name made from a hash of the key, so that no key can leave
 * `scratchDir` (`../` in an S3 key) and no engine reads the name as a glob (DuckDB expands `*`,
 * `?` and `[…]` in the paths it is given, so `brack[1].csv` would read `brack1.csv`).
 */
export function scratchPath(scratchDir: string, key: string): string {
  return join(scratchDir, 'objects', createHash('sha256').update(key).digest('hex').slice(0, 32));
}

/** A key that resolves (through a symbolic link) to a file outside the store's root: not an object to read. */
export class OutsideRootError extends Error {
  override name = 'OutsideRootError';
}

/** Deleting by prefix is for folders: an empty or partial prefix could take far more than meant. */
export function assertFolderPrefix(prefix: string): void {
  if (!prefix.endsWith('/') || prefix === '/') throw new Error(`deletePrefix needs a folder prefix ending in "/", not "${prefix}"`);
}
