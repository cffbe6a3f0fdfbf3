import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // DuckDB runs use both cores; running many files at once only adds contention.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // s3rver (the local S3 server) enciphers ListObjectsV2 continuation tokens with DES, which
    // OpenSSL 3 only offers through its legacy provider; without it every second page fails.
    execArgv: ['--openssl-legacy-provider'],
  },
});
