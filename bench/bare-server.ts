/**
 * The warm floor of `npm run bench` (and of `bench/profile-callback.ts --bare`): a node HTTP
 * server answering `?user_id=` with that item's `user_id`, read by one GetItem from the local
 * runtime's own dynalite (the callback's table and items, the storage engine it reads through).
 * The least any endpoint serving a stored value does.
 */
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { AWS_CLIENT_OPTIONS } from '../functions/adapters/aws-client-options';
import { TABLE_NAME } from '../local/dynamo';

export interface BareServerOptions {
  /** Keep-alive sockets to dynalite. */
  maxSockets: number;
  /** Its DynamoDB client made with the SDK's defaults, or with the functions' own options (timeouts, cached middleware). */
  client: 'sdk-defaults' | 'functions';
}

export async function startBareServer(
  dynamoEndpoint: string,
  options: BareServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const httpAgent = new Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const clientOptions =
    options.client === 'functions'
      ? { ...AWS_CLIENT_OPTIONS, requestHandler: { ...AWS_CLIENT_OPTIONS.requestHandler, httpAgent } }
      : { requestHandler: { httpAgent } };
  const client = new DynamoDBClient({
    ...clientOptions,
    endpoint: dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const server = createServer((request, response) => {
    const userId = new URL(request.url ?? '/', 'http://bare').searchParams.get('user_id') ?? '';
    client.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: userId } }, ConsistentRead: true })).then(
      (answer) => response.writeHead(answer.Item ? 200 : 404, { 'content-type': 'text/plain' }).end(answer.Item?.user_id.S ?? ''),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      client.destroy();
    },
  };
}
