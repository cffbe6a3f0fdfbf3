import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { ObjectStore } from './object-store.js';

/** An {@link ObjectStore} over a local directory (demo runs, tests, the local CLI). */
export class LocalObjectStore implements ObjectStore {
  constructor(readonly root: string) {}

  describe(key: string): string {
    return join(this.root, key);
  }

  async list(prefix: string): Promise<string[]> {
    const start = join(this.root, prefix);
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        // Dot-files are in-flight temporaries of put(); they are never objects.
        else if (!entry.name.startsWith('.')) keys.push(relative(this.root, path).split(sep).join('/'));
      }
    };
    await walk(start);
    return keys.sort();
  }

  async localPath(key: string): Promise<string> {
    return this.describe(key);
  }

  async put(key: string, localFile: string): Promise<void> {
    const target = this.describe(key);
    await mkdir(dirname(target), { recursive: true });
    // Copy beside the target first, then rename over it: rename(2) within one directory is atomic.
    const temporary = join(dirname(target), `.${process.pid}-${Date.now()}.tmp`);
    try {
      await copyFile(localFile, temporary);
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
