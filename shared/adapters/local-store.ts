import { randomUUID } from 'node:crypto';
import { copyFile, link, mkdir, readdir, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertFolderPrefix, OutsideRootError, scratchPath, type ObjectInfo, type ObjectStore } from '../store/object-store.js';

/** An {@link ObjectStore} over a local directory (demo runs, tests, the local CLI). */
export class LocalObjectStore implements ObjectStore {
  constructor(readonly root: string) {}

  describe(key: string): string {
    return join(this.root, key);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const objects: ObjectInfo[] = [];
    const add = async (path: string) => {
      const { size, mtimeMs } = await stat(path);
      const etag = `W/"${size.toString(16)}-${Math.trunc(mtimeMs).toString(16)}"`;
      objects.push({ key: relative(this.root, path).split(sep).join('/'), bytes: size, etag });
    };
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        // The prefix names a file: like S3, the object itself is what the prefix lists.
        if (code === 'ENOTDIR') return add(dir);
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        // Dot-files are in-flight temporaries of put(); they are never objects.
        else if (!entry.name.startsWith('.')) await add(path);
      }
    };
    await walk(join(this.root, prefix));
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async localPath(key: string, scratchDir: string): Promise<string> {
    const [file, root] = await Promise.all([realpath(this.describe(key)), realpath(this.root)]);
    // A symbolic link may point anywhere on the machine; only files under the root are objects.
    if (!`${file}${sep}`.startsWith(`${root}${sep}`)) throw new OutsideRootError(`${key} is a link to a file outside ${this.root}: not read`);
    const link = scratchPath(scratchDir, key);
    await mkdir(dirname(link), { recursive: true });
    await rm(link, { force: true });
    await symlink(file, link);
    return link;
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

  async move(from: string, to: string): Promise<void> {
    const target = this.describe(to);
    await mkdir(dirname(target), { recursive: true });
    // Both keys live under one root, on one file system: rename(2) replaces the target atomically.
    await rename(this.describe(from), target);
  }

  async create(key: string, body: string): Promise<boolean> {
    const target = this.describe(key);
    await mkdir(dirname(target), { recursive: true });
    // Written whole beside the target, then linked to its name: link(2) fails with EEXIST rather
    // than replace a file, and a reader never sees the object half written.
    const temporary = join(dirname(target), `.${process.pid}-${randomUUID()}.tmp`);
    try {
      await writeFile(temporary, body);
      await link(temporary, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async link(key: string): Promise<string> {
    return pathToFileURL(resolve(this.describe(key))).href;
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertFolderPrefix(prefix);
    await rm(this.describe(prefix), { recursive: true, force: true });
  }
}
