/**
 * The local table follows the contract's schema: a data directory made before an index existed
 * gets it added at the next start, so `npm start` on old data keeps working.
 */
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_INDEXES } from '../../functions/contract';
import { ensureTable, startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';

let dynalite: Dynalite;

afterEach(async () => {
  await dynalite?.close();
});

test('an older table with only the due index gets the indexes added since', async () => {
  // Prepare: dynalite with a table as an earlier version created it
  dynalite = await startDynalite();
  const client = dynalite.client();
  await client.send(new DeleteTableCommand({ TableName: TABLE_NAME }));
  await client.send(
    new CreateTableCommand({
      TableName: TABLE_NAME,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'user_id', AttributeType: 'S' },
        { AttributeName: 'due_shard', AttributeType: 'S' },
        { AttributeName: 'due_at', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: 'user_id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'due-index',
          KeySchema: [
            { AttributeName: 'due_shard', KeyType: 'HASH' },
            { AttributeName: 'due_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    }),
  );

  await client.send(
    new PutItemCommand({
      TableName: TABLE_NAME,
      Item: { user_id: { S: 'old-user' }, status: { S: 'reauth_required' }, version: { N: '3' } },
    }),
  );

  // Act
  await ensureTable(client);
  const described = await client.send(new DescribeTableCommand({ TableName: TABLE_NAME }));
  const found = await client.send(
    new QueryCommand({
      TableName: TABLE_NAME,
      IndexName: 'status-index',
      KeyConditionExpression: '#s = :s',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':s': { S: 'reauth_required' } },
    }),
  );

  // Assess: every index, and the older item found through the new one
  const names = (described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName).sort();
  expect(names).toEqual(TABLE_INDEXES.map((index) => index.name).sort());
  expect(found.Items?.map((item) => item.user_id.S)).toEqual(['old-user']);
  client.destroy();
});
