/**
 * A loopback stand-in for DynamoDB (awsJson1_0: POST / with `x-amz-target: DynamoDB_20120810.<Operation>`)
 * that keeps items in memory and implements the one operation the product sends: PutItem, with the
 * `attribute_not_exists(...)` condition evaluated against the stored item.
 *
 * Shapes follow the Amazon DynamoDB API Reference
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/): PutItem's request (TableName,
 * Item as AttributeValue maps, ConditionExpression, ExpressionAttributeNames) and its response (HTTP
 * 200, `{}` when no ReturnValues or capacity were asked for); errors in the awsJson `__type`
 * convention: ConditionalCheckFailedException, ResourceNotFoundException, ValidationException
 * (a common error), UnknownOperationException.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An AttributeValue as the wire carries it: `{ "S": "…" }`, `{ "N": "12" }`, … */
export type AttributeValue = Record<string, unknown>;
type Item = Record<string, AttributeValue>;

const CONTENT_TYPE = 'application/x-amz-json-1.0';
const TARGET = 'DynamoDB_20120810';

/** `tables`: each table's name and its partition key (a string attribute). */
export async function fakeDynamoDb(tables: Record<string, { key: string }>) {
  const stored = new Map<string, Map<string, Item>>(Object.keys(tables).map((name) => [name, new Map()]));
  const requests: { operation: string; body: Record<string, unknown> }[] = [];

  const error = (status: number, type: string, message: string) => ({ status, body: { __type: type, message } });
  const invalid = (message: string) => error(400, 'com.amazon.coral.validate#ValidationException', message);

  function putItem(body: Record<string, unknown>) {
    const tableName = String(body['TableName']);
    const table = tables[tableName];
    if (!table) return error(400, 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', 'Requested resource not found');
    const item = body['Item'] as Item | undefined;
    const key = item?.[table.key]?.['S'];
    if (typeof key !== 'string' || key.length === 0) {
      return invalid(`One or more parameter values were invalid: Missing the key ${table.key} in the item`);
    }
    const condition = body['ConditionExpression'];
    if (condition !== undefined) {
      // The only condition the product uses; anything else is refused rather than half-evaluated.
      const match = /^attribute_not_exists\((#?[A-Za-z0-9_]+)\)$/.exec(String(condition).trim());
      if (!match) return invalid(`this stand-in evaluates only attribute_not_exists(...), not ${String(condition)}`);
      const names = (body['ExpressionAttributeNames'] ?? {}) as Record<string, string>;
      const attribute = match[1]!.startsWith('#') ? names[match[1]!] : match[1]!;
      if (attribute === undefined) return invalid(`Value provided in ExpressionAttributeNames unused in expressions or undefined: ${match[1]}`);
      const existing = stored.get(tableName)!.get(key);
      if (existing && attribute in existing) {
        return error(400, 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', 'The conditional request failed');
      }
    }
    stored.get(tableName)!.set(key, item!);
    return { status: 200, body: {} };
  }

  const server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const target = String(req.headers['x-amz-target']);
    const operation = target.startsWith(`${TARGET}.`) ? target.slice(TARGET.length + 1) : target;
    const body = JSON.parse(text || '{}') as Record<string, unknown>;
    requests.push({ operation, body });
    const wellFormed = req.method === 'POST' && req.url === '/' && req.headers['content-type'] === CONTENT_TYPE;
    const reply = !wellFormed
      ? error(400, 'UnrecognizedClientException', `unexpected ${req.method} ${req.url} ${req.headers['content-type']}`)
      : operation === 'PutItem'
        ? putItem(body)
        : error(400, 'UnknownOperationException', `this stand-in does not implement ${operation}`);
    res.writeHead(reply.status, { 'content-type': CONTENT_TYPE });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Request bodies received for one operation, in order. */
    calls: (operation: string) => requests.filter((r) => r.operation === operation).map((r) => r.body),
    /** The items of a table, by partition key. */
    items: (table: string) => Object.fromEntries(stored.get(table) ?? []),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
