import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertFolderPrefix, scratchPath, type ObjectInfo, type ObjectStore } from '../store/object-store.js';

/**
 * Throttling (503 SlowDown) and 5xx answers are retried by the SDK itself; adaptive mode also
 * slows the client down while S3 throttles, which a nightly batch prefers over failing.
 */
export const S3_RETRY = { maxAttempts: 8, retryMode: 'adaptive' } as const;

const LINK_SECONDS = 3600;

/** Tries of a conditional create that S3 answers with 409 (a concurrent conditional write of the key). */
const CONFLICT_ATTEMPTS = 5;

/**
 * An {@link ObjectStore} over an S3 prefix. Objects are downloaded into the run's scratch directory
 * for the engine; puts use multipart upload. A single PUT (multipart included) or server-side copy
 * replaces an object atomically: readers see the old or the new object, never a mix.
 */
export class S3ObjectStore implements ObjectStore {
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    private readonly client: S3Client = new S3Client(S3_RETRY),
  ) {}

  /** `s3://bucket/prefix` -> store. */
  static fromUri(uri: string, client?: S3Client): S3ObjectStore {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!match) throw new Error(`not an S3 URI: ${uri}`);
    const prefix = match[2]!.replace(/\/?$/, match[2] ? '/' : '');
    return new S3ObjectStore(match[1]!, prefix, client);
  }

  private objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }

  describe(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const objects: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.objectKey(prefix), ContinuationToken: token }),
      );
      for (const { Key, Size, ETag } of page.Contents ?? []) {
        if (Key) objects.push({ key: Key.slice(this.prefix.length), bytes: Size ?? 0, etag: ETag ?? '' });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async localPath(key: string, scratchDir: string, etag?: string): Promise<string> {
    const target = scratchPath(scratchDir, key);
    await mkdir(dirname(target), { recursive: true });
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), IfMatch: etag }));
    await pipeline(object.Body as Readable, createWriteStream(target));
    return target;
  }

  async put(key: string, localFile: string): Promise<void> {
    await new Upload({
      client: this.client,
      // The type travels with the object through the server-side move: a report opens in a browser.
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(localFile), ContentType: contentType(key) },
    }).done();
  }

  /** Server-side copy, then delete: no bytes pass through the Lambda. (CopyObject's limit is 5 GB per object.) */
  async move(from: string, to: string): Promise<void> {
    // URL-encoded per segment as S3 requires; `=` (every partition key has one) stays as it is,
    // which S3 accepts and decodeURI-based servers (s3rver) need.
    const source = `${this.bucket}/${this.objectKey(from)}`
      .split('/')
      .map((segment) => encodeURIComponent(segment).replaceAll('%3D', '='))
      .join('/');
    await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.objectKey(to), CopySource: source }));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(from) }));
  }

  /**
   * S3's conditional write (since August 2024): with If-None-Match: * a PUT of an existing key is
   * refused with 412 PreconditionFailed, so of concurrent creates exactly one succeeds. While another
   * conditional write of the key is in flight S3 may answer 409 ConditionalRequestConflict, which
   * decides nothing: that request is sent again.
   */
  async create(key: string, body: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body, IfNoneMatch: '*', ContentType: 'application/json' }),
        );
        return true;
      } catch (error) {
        const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
        if (status === 412) return false;
        if (status !== 409 || attempt === CONFLICT_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Valid for an hour, and never longer than the credentials that signed it (a Lambda role's are
   * temporary): long enough to open a report from a Slack answer.
   */
  async link(key: string): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { expiresIn: LINK_SECONDS });
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertFolderPrefix(prefix);
    const keys = (await this.list(prefix)).map((o) => this.objectKey(o.key));
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const { Errors } = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      if (Errors?.length) throw new Error(`could not delete ${Errors.length} object(s) under ${this.describe(prefix)}: ${Errors[0]!.Code} ${Errors[0]!.Message}`);
    }
  }
}

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  parquet: 'application/vnd.apache.parquet',
};

function contentType(key: string): string {
  return CONTENT_TYPES[key.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream';
}
