import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ObjectStore } from './object-store.js';

/**
 * An {@link ObjectStore} over an S3 prefix. Objects are downloaded into the run's scratch directory
 * for the engine; puts use multipart upload. A single PUT (multipart included) replaces an object
 * atomically: readers see the old or the new object, never a mix.
 */
export class S3ObjectStore implements ObjectStore {
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    private readonly client: S3Client = new S3Client({}),
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

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.objectKey(prefix), ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async localPath(key: string, scratchDir: string): Promise<string> {
    const target = join(scratchDir, 's3', key);
    await mkdir(dirname(target), { recursive: true });
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    await pipeline(object.Body as Readable, createWriteStream(target));
    return target;
  }

  async put(key: string, localFile: string): Promise<void> {
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: createReadStream(localFile) },
    }).done();
  }
}
