/**
 * Loopback stand-ins for AWS JSON-protocol endpoints (POST / with `x-amz-target:
 * <Service>.<Operation>`): Athena (awsJson1_1), answering from recorded response shapes in
 * test/fixtures/athena/, and any other (Step Functions: awsJson1_0) from scripted replies.
 *
 * The responses follow the "Response Syntax" of the Amazon Athena API Reference
 * (https://docs.aws.amazon.com/athena/latest/APIReference/): StartQueryExecution, GetQueryExecution
 * (QueryExecution, QueryExecutionStatus, AthenaError, QueryExecutionStatistics), GetQueryResults
 * (ResultSet, ResultSetMetadata, ColumnInfo, Row, Datum) and StopQueryExecution ("HTTP 200 with an
 * empty HTTP body"); errors use the awsJson1_1 `__type` convention and the AWS common error
 * ThrottlingException. Timestamps are epoch seconds, as awsJson1_1 encodes them.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AthenaClient, type AthenaClientConfig, type GetQueryResultsOutput } from '@aws-sdk/client-athena';
import { afterEach } from 'vitest';

export type Operation = 'StartQueryExecution' | 'GetQueryExecution' | 'GetQueryResults' | 'StopQueryExecution';
/** `body: undefined` sends an empty body (as StopQueryExecution does). */
export interface Reply { status?: number; body?: unknown }

/** A fresh parse of a recorded response, safe to modify (typed by the SDK shape only for editing it). */
export function fixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/athena/${name}.json`, import.meta.url), 'utf8')) as T;
}
/** The first results page alone: a complete single-page SELECT result. */
export const singlePage = (): Reply => ({ body: { ...fixture<GetQueryResultsOutput>('get-query-results-page-1'), NextToken: undefined } });
export const ok = (name: string): Reply => ({ body: fixture(name) });
export const fails = (name: string): Reply => ({ status: 400, body: fixture(name) });

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((fn) => fn()));

/**
 * Answers each operation from its script in order, repeating the last reply once the script runs
 * out, and records every request body by operation.
 */
export async function fakeAwsJson(service: { target: string; contentType: string }, script: Partial<Record<string, Reply[]>>) {
  const requests: { operation: string; body: Record<string, unknown> }[] = [];
  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const target = String(req.headers['x-amz-target']);
    const operation = target.slice(service.target.length + 1);
    requests.push({ operation, body: JSON.parse(text || '{}') });
    const replies = target.startsWith(`${service.target}.`) ? script[operation] : undefined;
    const wellFormed = req.method === 'POST' && req.url === '/' && req.headers['content-type'] === service.contentType;
    const served = requests.filter((r) => r.operation === operation).length;
    const reply: Reply =
      wellFormed && replies?.length
        ? replies[Math.min(served, replies.length) - 1]!
        : { status: 400, body: { __type: 'UnrecognizedClientException', message: `unexpected ${req.method} ${req.url} ${target}` } };
    res.writeHead(reply.status ?? 200, { 'content-type': service.contentType });
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    /** Request bodies the server received for one operation, in order. */
    calls: (operation: string) => requests.filter((r) => r.operation === operation).map((r) => r.body),
  };
}

export async function fakeAthena(script: Partial<Record<Operation, Reply[]>>) {
  const fake = await fakeAwsJson({ target: 'AmazonAthena', contentType: 'application/x-amz-json-1.1' }, script);
  const { endpoint } = fake;
  return {
    ...fake,
    calls: (operation: Operation) => fake.calls(operation),
    /** A real AthenaClient aimed at this server; no retries unless asked for. */
    client(config: Partial<AthenaClientConfig> = {}): AthenaClient {
      const client = new AthenaClient({
        endpoint,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
        ...config,
      });
      cleanup.push(() => client.destroy());
      return client;
    },
  };
}

