/**
 * One run per destination at a time: a lease in the destination store, which a killed run cannot
 * leave stuck.
 *
 * The lock is a short sequence of lease objects, `_lock/<epoch>/lease.json`; the highest epoch is
 * the current lease, naming the run that holds it and when it runs out. Every change creates the
 * next epoch with {@link ObjectStore.create}, which exactly one of any number of concurrent writers
 * wins, so two runs that find the lock free (or its lease run out) cannot both take it:
 * - take: the current lease is absent or has run out → create the next epoch. A writer with an old
 *   view of the lock may have created an epoch that was pruned meanwhile, so the new holder then
 *   gives way to any other lease that is still live, and prunes the rest;
 * - renew (while the run works, and right before it publishes): create the next epoch, then check
 *   that the previous one is still this run's. A run that took the lease over meanwhile either
 *   holds the next epoch (the create fails) or has pruned the previous one: the lock is lost;
 * - release: delete the holder's epoch, so that an idle destination holds no lock object.
 * A holder renews once half its lease is left, looking every fifth of it; a killed run stops
 * renewing and its lease runs out within {@link LEASE_MS}. Leases compare the clocks of different
 * hosts and assume that they agree to well within a lease, and that a holder is not stalled past
 * its lease without noticing: the renewal right before publishing bounds that to the publish.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { ObjectStore } from './object-store.js';
import { makeScratch, removeScratch } from './scratch.js';

export const LOCK_PREFIX = '_lock/';

/** How long a lease lasts unless renewed. */
export const LEASE_MS = 5 * 60_000;

const Lease = z.object({ runId: z.string(), date: z.string(), host: z.string(), pid: z.number(), expiresAt: z.string() });
export type Lease = z.infer<typeof Lease>;

export interface LockOptions {
  now: () => Date;
  /** Where a lease is fetched to be read (a scratch directory is made there for it). */
  scratchRoot: string;
}

const folder = (epoch: number) => `${LOCK_PREFIX}${String(epoch).padStart(12, '0')}/`;
const leaseKey = (epoch: number) => `${folder(epoch)}lease.json`;

/** Another run holds the destination's lock. */
export class DestinationLocked extends Error {
  override name = 'DestinationLocked';
  constructor(
    message: string,
    readonly holder?: Lease,
  ) {
    super(message);
  }
}

/** The lock this run held is no longer its own: its lease ran out and another run took it. */
export class LockLost extends DestinationLocked {
  override name = 'LockLost';
}

export class RunLock {
  private timer: NodeJS.Timeout | undefined;
  /** Renewals run one after another: two at once would race each other for the same epoch. */
  private renewals: Promise<void> = Promise.resolve();
  private released = false;

  private constructor(
    private readonly store: ObjectStore,
    private epoch: number,
    private lease: Lease,
    private readonly options: LockOptions,
  ) {}

  /** Takes the destination's lock for a run, or throws {@link DestinationLocked} naming the holder. */
  static async acquire(store: ObjectStore, run: { runId: string; date: string }, options: LockOptions): Promise<RunLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const top = (await listEpochs(store)).at(-1);
      if (top !== undefined) {
        const current = await readLease(store, top, options);
        // Gone since the listing: the lock has just changed hands; look again.
        if (current === undefined) continue;
        if (isLive(current, options.now())) throw lockedBy(store, current);
      }
      const lease = { ...run, host: hostname(), pid: process.pid, expiresAt: expiry(options, LEASE_MS) };
      const lock = new RunLock(store, (top ?? 0) + 1, lease, options);
      // Another run created this epoch first: look again (it will be that run's live lease).
      if (!(await createLease(store, lock.epoch, lease, options))) continue;
      try {
        await lock.giveWayOrPrune();
      } catch (error) {
        // Not taken after all (another run's live lease, or the store failing): leave nothing behind.
        await store.deletePrefix(folder(lock.epoch));
        throw error;
      }
      lock.beat();
      return lock;
    }
    throw new DestinationLocked(`${store.describe(LOCK_PREFIX)} changed hands while this run tried to take it: another run is starting`);
  }

  /**
   * The lock a run took in an earlier process (a fanned-out night's Prepare), for its next phase.
   * Resumed only if the newest lease is still that run's, expired or not: then no other run has
   * held the destination since. Otherwise {@link LockLost}.
   */
  static async resume(store: ObjectStore, runId: string, options: LockOptions): Promise<RunLock> {
    const top = (await listEpochs(store)).at(-1);
    const current = top === undefined ? undefined : await readLease(store, top, options);
    if (top === undefined || current?.runId !== runId) throw lost(store, runId, current);
    const lock = new RunLock(store, top, { ...current, host: hostname(), pid: process.pid }, options);
    await lock.confirm();
    lock.beat();
    return lock;
  }

  /** Renews the lease now: right before publishing, the proof that the lock is still this run's. */
  confirm(): Promise<void> {
    return this.serially(() => this.renew(LEASE_MS));
  }

  /**
   * Leaves the lock held for `ms` and stops renewing it: for the run's next phase, in another
   * process, to {@link RunLock.resume}. Should that never come, the lease runs out by then.
   */
  async handOver(ms: number): Promise<void> {
    this.stop();
    await this.serially(() => this.renew(ms));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stop();
    await this.renewals;
    // Only while it is still this run's: once lost, the epoch may have been pruned and created
    // anew by a run that took the lock from an empty destination.
    if (await this.holdsEpoch(this.epoch)) await this.store.deletePrefix(folder(this.epoch));
  }

  /** After taking an epoch: a live lease of another run wins (it was there first); the rest are pruned. */
  private async giveWayOrPrune(): Promise<void> {
    const others = (await listEpochs(this.store)).filter((epoch) => epoch !== this.epoch);
    for (const epoch of others) {
      const other = await readLease(this.store, epoch, this.options);
      if (other && isLive(other, this.options.now())) throw lockedBy(this.store, other);
    }
    for (const epoch of others) await this.store.deletePrefix(folder(epoch));
  }

  private async renew(ms: number): Promise<void> {
    const next = this.epoch + 1;
    const lease = { ...this.lease, expiresAt: expiry(this.options, ms) };
    if (!(await createLease(this.store, next, lease, this.options))) {
      throw lost(this.store, this.lease.runId, await readLease(this.store, next, this.options));
    }
    if (!(await this.holdsEpoch(this.epoch))) {
      await this.store.deletePrefix(folder(next));
      throw lost(this.store, this.lease.runId);
    }
    await this.store.deletePrefix(folder(this.epoch));
    [this.epoch, this.lease] = [next, lease];
  }

  /** Whether the epoch's lease is the one this run wrote (the run id and its expiry name it). */
  private async holdsEpoch(epoch: number): Promise<boolean> {
    const found = await readLease(this.store, epoch, this.options);
    return found?.runId === this.lease.runId && found.expiresAt === this.lease.expiresAt;
  }

  private beat(): void {
    this.timer = setInterval(() => {
      if (Date.parse(this.lease.expiresAt) - this.options.now().getTime() > LEASE_MS / 2) return;
      // A failed renewal is not the end: confirm() renews again before anything is published,
      // and fails then if the lock is lost. Once lost, there is nothing left to renew.
      this.serially(() => this.renew(LEASE_MS)).catch((error: unknown) => {
        if (error instanceof LockLost) this.stop();
      });
    }, LEASE_MS / 5);
    // The heartbeat alone never keeps a process alive.
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private serially(task: () => Promise<void>): Promise<void> {
    const done = this.renewals.then(task);
    this.renewals = done.catch(() => {});
    return done;
  }
}

async function listEpochs(store: ObjectStore): Promise<number[]> {
  const epochs = (await store.list(LOCK_PREFIX)).flatMap(({ key }) => {
    const epoch = /^_lock\/(\d{12})\/lease\.json$/.exec(key)?.[1];
    return epoch ? [Number(epoch)] : [];
  });
  return epochs.sort((a, b) => a - b);
}

/** What an object at a lease's key that is not a lease (written by hand, say) holds: nothing, run out. */
const UNREADABLE: Lease = { runId: 'unknown', date: '', host: '', pid: 0, expiresAt: '' };

/** The lease of an epoch, or undefined when there is none (any more). */
async function readLease(store: ObjectStore, epoch: number, options: LockOptions): Promise<Lease | undefined> {
  const scratch = await makeScratch(options.scratchRoot, 'lock');
  try {
    const text = await readFile(await store.localPath(leaseKey(epoch), scratch), 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return UNREADABLE;
    }
    const parsed = Lease.safeParse(json);
    return parsed.success ? parsed.data : UNREADABLE;
  } catch (error) {
    const { code, name } = error as { code?: string; name?: string };
    if (code === 'ENOENT' || name === 'NoSuchKey') return undefined;
    throw error;
  } finally {
    await removeScratch(scratch);
  }
}

/**
 * Creates a lease object; false when another run's is there. A create whose success response was
 * lost (the SDK retries it into a 412 against its own object) finds its own lease and has won.
 */
async function createLease(store: ObjectStore, epoch: number, lease: Lease, options: LockOptions): Promise<boolean> {
  if (await store.create(leaseKey(epoch), JSON.stringify(lease))) return true;
  const found = await readLease(store, epoch, options);
  return found !== undefined && (Object.keys(lease) as (keyof Lease)[]).every((field) => found[field] === lease[field]);
}

const isLive = (lease: Lease, now: Date) => Date.parse(lease.expiresAt) > now.getTime();

const expiry = (options: LockOptions, ms: number) => new Date(options.now().getTime() + ms).toISOString();

function lockedBy(store: ObjectStore, holder: Lease): DestinationLocked {
  return new DestinationLocked(
    `${store.describe(LOCK_PREFIX)} is held by run ${holder.runId} (run date ${holder.date}, ${holder.host} pid ${holder.pid}) until ${holder.expiresAt}: ` +
      'one run per destination at a time. Run again once it has finished; if it was killed, its lease runs out by then and the next run takes the lock over',
    holder,
  );
}

function lost(store: ObjectStore, runId: string, holder?: Lease): LockLost {
  const now = holder ? `run ${holder.runId} holds it (until ${holder.expiresAt})` : 'its lease ran out and another run has held it since';
  return new LockLost(`run ${runId} no longer holds ${store.describe(LOCK_PREFIX)}: ${now}; this run publishes nothing more`, holder);
}
