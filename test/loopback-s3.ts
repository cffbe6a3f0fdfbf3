/** The local S3-compatible server the tests run against (s3rver on loopback), and a client for it. */
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { tempDir } from './helpers.js';

/** A client of the loopback server at `endpoint`. */
export function loopbackS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    // s3rver stores aws-chunked framing verbatim otherwise (see the AWS issue's notes).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Starts s3rver on a free loopback port with the buckets given; `configure` may add middleware
 * before it listens. Close it with `server.close()`.
 */
export async function startLoopbackS3(buckets: string[], configure?: (server: S3rver) => void): Promise<{ server: S3rver; endpoint: string }> {
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: await tempDir('s3rver'), configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  configure?.(server);
  const { port } = (await server.run()) as { port: number };
  return { server, endpoint: `http://127.0.0.1:${port}` };
}
