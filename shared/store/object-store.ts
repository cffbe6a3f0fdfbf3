/**
 * The port through which the core reads extracts and publishes results. Keys are `/`-separated
 * paths relative to the store's root (e.g. `transactions/dt=2024-01-01/part-0.csv`).
 * Implementations: {@link LocalObjectStore} (a directory) and, on AWS, an S3 prefix.
 */
export interface ObjectStore {
  /** Human-readable location of a key, for messages and lineage (a path or an s3:// URL). */
  describe(key: string): string;
  /** Keys under a prefix, sorted, recursively. An absent prefix lists nothing. */
  list(prefix: string): Promise<string[]>;
  /**
   * A local file holding the object's bytes, for the embedded engine. A local store returns the
   * file itself; a remote store downloads into `scratchDir`.
   */
  localPath(key: string, scratchDir: string): Promise<string>;
  /**
   * Replace the object at `key` with the contents of a local file, atomically: a reader sees the
   * old bytes or the new ones, never a partial file.
   */
  put(key: string, localFile: string): Promise<void>;
}
