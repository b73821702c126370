/**
 * dynalite, the DynamoDB-compatible server, with the token table created the way the CDK stack
 * creates it (both from functions/contract.ts). Used by the local runtime, the integration tests and the benchmark.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { type IndexSchema, TABLE_INDEXES, TABLE_SCHEMA } from '../functions/contract';
import { type AwsRequestObserver, observeAwsRequests } from './aws-requests';

// dynalite ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export const TABLE_NAME = 'zoom-token-vault';

export interface Dynalite {
  endpoint: string;
  /** A client for this server (dummy credentials, signed with `accessKeyId`: 'local' unless told). */
  client(accessKeyId?: string): DynamoDBClient;
  /** Requests served, by operation (GetItem, UpdateItem, Query, …), since start or the last reset: what a benchmark bills. */
  counts(): Record<string, number>;
  resetCounts(): void;
  close(): Promise<void>;
}

export interface DynaliteOptions {
  /** Told about every request (who signed it, the operation, its input): the AWS contract harness records them. */
  onRequest?: AwsRequestObserver;
}

/** Starts dynalite on a free loopback port, persisted under `path` (in memory without), with the table. */
export async function startDynalite(path?: string, options: DynaliteOptions = {}): Promise<Dynalite> {
  const server = dynalite({ ...(path ? { path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let counts: Record<string, number> = {};
  if (options.onRequest) observeAwsRequests(server, options.onRequest);
  server.on('request', (request) => {
    const operation =
      String(request.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() || 'unknown';
    counts[operation] = (counts[operation] ?? 0) + 1;
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = (accessKeyId = 'local') =>
    new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'local' } });
  const setup = client();
  try {
    await ensureTable(setup);
  } finally {
    setup.destroy();
  }
  return {
    endpoint,
    client,
    counts: () => ({ ...counts }),
    resetCounts: () => {
      counts = {};
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The table as the stack creates it (functions/contract.ts TABLE_SCHEMA). A data directory from
 * before an index existed is migrated: dynalite cannot add an index to a table, so the items are
 * read, the table is made anew and the items are written back (local data is small).
 */
export async function ensureTable(client: DynamoDBClient): Promise<void> {
  let existing: string[];
  try {
    const described = await client.send(new DescribeTableCommand({ TableName: TABLE_NAME }));
    existing = (described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName!);
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    await createTable(client);
    return;
  }
  if (TABLE_INDEXES.every((index) => existing.includes(index.name))) return;
  const items: Array<Record<string, AttributeValue>> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: TABLE_NAME, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  await client.send(new DeleteTableCommand({ TableName: TABLE_NAME }));
  await createTable(client);
  for (const item of items) await client.send(new PutItemCommand({ TableName: TABLE_NAME, Item: item }));
}

async function createTable(client: DynamoDBClient): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: TABLE_NAME,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: attributeDefinitions(),
      KeySchema: [{ AttributeName: TABLE_SCHEMA.partitionKey.name, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: TABLE_INDEXES.map(indexDefinition),
    }),
  );
}

function attributeDefinitions() {
  const keys = [
    TABLE_SCHEMA.partitionKey,
    ...TABLE_INDEXES.flatMap((index) => [index.partitionKey, ...(index.sortKey ? [index.sortKey] : [])]),
  ];
  const unique = new Map(keys.map((key) => [key.name, key.type]));
  return [...unique].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function indexDefinition(index: IndexSchema) {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
      ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    Projection: { ProjectionType: 'KEYS_ONLY' as const },
  };
}
