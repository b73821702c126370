/**
 * The TokenStore contract (test/support/store-contract.ts) against the real DynamoTokenStore on
 * dynalite: the in-memory store the domain's unit tests use must behave the same, and this is
 * the other half of that check. Each test gets its own dynalite (on a free port) and so an empty
 * table made by local/dynamo.ts the way the stack makes it: listDue reads the whole index.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { startDynalite, TABLE_NAME } from '../../local/dynamo';
import { describeTokenStoreContract } from '../support/store-contract';

describeTokenStoreContract('DynamoDB (dynalite)', async () => {
  const dynalite = await startDynalite();
  const client = dynalite.client();
  const store = new DynamoTokenStore({ client, tableName: TABLE_NAME });
  return {
    store,
    // A record from before registration ids: written normally, then the attribute removed.
    seedLegacy: async (user) => {
      await store.create(user);
      await client.send(
        new UpdateItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: user.userId } }, UpdateExpression: 'REMOVE registration_id' }),
      );
    },
    close: async () => {
      client.destroy();
      await dynalite.close();
    },
  };
});
