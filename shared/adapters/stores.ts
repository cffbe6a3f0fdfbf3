import { LocalObjectStore } from './local-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { S3ObjectStore } from './s3-store.js';

/** A store for a location: `s3://bucket/prefix` or a local directory. */
export function storeFor(location: string): ObjectStore {
  return location.startsWith('s3://') ? S3ObjectStore.fromUri(location) : new LocalObjectStore(location);
}

export type { ObjectStore };
