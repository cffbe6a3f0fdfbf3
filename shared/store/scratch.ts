/**
 * The local scratch directories of runs and their phases (under `os.tmpdir()`, or
 * `RunDeps.scratchRoot`): the extract's copies, the history's partitions, the outputs and the
 * engine's spill files. A killed run cannot remove its own, and on a warm Lambda the leftovers
 * would fill /tmp night after night. So each directory is named after the process and worker
 * thread that made it, `crm-metrics-<kind>-<pid>-<thread>-<random>`, and every new one first
 * sweeps those whose maker is gone:
 * - another process's, when no process of that pid exists any more;
 * - this thread's own, when no run of this process holds it: left by an earlier instance of the
 *   process that had the same pid (a Lambda runtime restarted after a timeout) or by a run that
 *   could not remove it.
 * Another thread's of this process is kept: nothing tells whether its run is still going.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

export type ScratchKind = 'run' | 'shard' | 'state' | 'lock';

const NAME = /^crm-metrics-(?:run|shard|state|lock)-(\d+)-(\d+)-[0-9a-f]{8}$/;

/** The directories this thread's runs hold now. */
const held = new Set<string>();

/** A new, empty scratch directory under `root`, after sweeping the ones left there by killed runs. */
export async function makeScratch(root: string, kind: ScratchKind): Promise<string> {
  await sweepScratch(root);
  const dir = join(root, `crm-metrics-${kind}-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`);
  // Held before it exists, so that a sweep by a concurrent run of this thread never takes it.
  held.add(dir);
  try {
    await mkdir(dir);
  } catch (error) {
    held.delete(dir);
    throw error;
  }
  return dir;
}

export async function removeScratch(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } finally {
    held.delete(dir);
  }
}

/** Removes the scratch directories under `root` whose run is gone. */
async function sweepScratch(root: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [])) {
    const match = NAME.exec(name);
    if (!match) continue;
    const [pid, thread] = [Number(match[1]), Number(match[2])];
    const dir = join(root, name);
    const gone = pid === process.pid ? thread === threadId && !held.has(dir) : !processExists(pid);
    if (!gone) continue;
    await rm(dir, { recursive: true, force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    // Signal 0 checks for the process without sending anything.
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
