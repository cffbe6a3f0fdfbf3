/**
 * The nightly Lambda handler (through middy) over the real S3 protocol: a local S3-compatible
 * server (s3rver) on loopback, the real @aws-sdk/client-s3, extracts uploaded, outputs read back.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { customerScores, partitionKey, runManifest } from '../shared/catalog.js';
import { S3ObjectStore } from '../shared/store/s3.js';
import { CSV_HEADER, tempDir } from './helpers.js';

const BUCKET = 'crm-test';
let server: S3rver;
let client: S3Client;
let endpoint: string;

beforeAll(async () => {
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: await tempDir('s3rver'), configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = (await server.run()) as { port: number };
  endpoint = `http://127.0.0.1:${port}`;
  client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    // s3rver stores aws-chunked framing verbatim otherwise (see the AWS issue's notes).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

describe('nightly handler', () => {
  it('runs a scheduled event end to end against S3', async () => {
    const rows = [CSV_HEADER, 't1,c1,2024-04-01T10:00:00,10.00,1,online,EUR,false', 't2,c2,2024-04-01T11:00:00,oops,1,store,EUR,false'];
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'raw/transactions/dt=2024-04-01/a.csv', Body: rows.join('\n') }),
    );
    vi.stubEnv('SOURCE_URI', `s3://${BUCKET}/raw`);
    vi.stubEnv('DEST_URI', `s3://${BUCKET}/curated`);
    // The handler builds its own S3 client; point the SDK's default at the local server.
    vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const { handler } = await import('../functions/nightly.js');
    // EventBridge Scheduler's payload for a 02:00 UTC run: it scores the previous day.
    const result = await handler({ time: '2024-04-02T02:00:00Z' }, {} as never);
    expect(result).toMatchObject({ date: '2024-04-01', status: 'succeeded', rowsRead: 2, rowsAccepted: 1, rowsRejected: 1 });

    const read = async (key: string) => {
      const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `curated/${key}` }));
      const bytes = await object.Body!.transformToByteArray();
      return parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, compressors });
    };
    const scores = await read(partitionKey(customerScores, '2024-04-01'));
    expect(scores.map((s) => s['customer_id'])).toEqual(['c1']);
    const [manifest] = await read(partitionKey(runManifest, '2024-04-01'));
    expect(Number(manifest!['rows_rejected'])).toBe(1);
    vi.unstubAllEnvs();
  });

  it('rejects an invalid date with a clear error', async () => {
    const { handler } = await import('../functions/nightly.js');
    await expect(handler({ date: '2024-02-30' }, {} as never)).rejects.toThrow(/date/i);
  });

  it('S3 store lists with pagination and puts by replacing', async () => {
    const store = new S3ObjectStore(BUCKET, 'paging/', client);
    const dir = await tempDir('s3-local');
    const file = join(dir, 'x');
    await writeFile(file, 'first');
    for (let i = 0; i < 3; i++) await store.put(`k/${i}.txt`, file);
    await writeFile(file, 'second');
    await store.put('k/0.txt', file);
    expect(await store.list('k/')).toEqual(['k/0.txt', 'k/1.txt', 'k/2.txt']);
    expect(await readFile(await store.localPath('k/0.txt', dir), 'utf8')).toBe('second');
  });
});
