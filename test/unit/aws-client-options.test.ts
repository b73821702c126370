/**
 * The AWS SDK clients' options (functions/adapters/aws-client-options.ts) really bound a call:
 * a DynamoDB request that never answers is abandoned at its request timeout and retried, then
 * fails, instead of hanging the function. The timeouts are shortened here, everything else kept.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { AWS_CLIENT_OPTIONS } from '../../functions/adapters/aws-client-options';

let server: Server;
let requests = 0;

beforeAll(async () => {
  // Reads each request and never answers.
  server = createServer(() => {
    requests += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('a request that never answers is abandoned at the request timeout, sent maxAttempts times, then fails', async () => {
  // Prepare
  const client = new DynamoDBClient({
    ...AWS_CLIENT_OPTIONS,
    requestHandler: { ...AWS_CLIENT_OPTIONS.requestHandler, connectionTimeout: 200, requestTimeout: 200 },
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const stillWaiting = new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 20_000).unref());

  // Act
  const outcome = await Promise.race([
    client.send(new GetItemCommand({ TableName: 't', Key: { user_id: { S: 'u1' } } })).then(
      () => 'answered',
      (error: Error) => error.name,
    ),
    stillWaiting,
  ]);
  client.destroy();

  // Assess
  expect(outcome).toBe('TimeoutError');
  expect(requests).toBe(AWS_CLIENT_OPTIONS.maxAttempts);
});
