/**
 * The TokenStore contract (test/support/store-contract.ts) against the real DynamoTokenStore on
 * dynalite: the in-memory store the domain's unit tests use must behave the same, and this is
 * the other half of that check. Each test gets its own dynalite (on a free port) and so an empty
 * table made by local/dynamo.ts the way the stack makes it: listDue reads the whole index.
 */
import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { startDynalite, TABLE_NAME } from '../../local/dynamo';
import { describeTokenStoreContract, type LostAnswer } from '../support/store-contract';

const WRITE_COMMANDS: Record<LostAnswer['op'], string> = {
  create: 'PutItemCommand',
  update: 'UpdateItemCommand',
  delete: 'DeleteItemCommand',
};

/**
 * Lost answers, as the SDK meets them: below its retry middleware, the next write of the kind is
 * sent and applied, then (after `between`, another writer's turn) its caller gets a timeout, so
 * the SDK sends the same request again.
 */
function losingAnswers(client: DynamoDBClient): (lost: LostAnswer) => void {
  const pending: LostAnswer[] = [];
  client.middlewareStack.add(
    ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const index = pending.findIndex((lost) => WRITE_COMMANDS[lost.op] === context.commandName);
      if (index < 0) return next(args);
      const [lost] = pending.splice(index, 1);
      await next(args);
      await lost.between?.();
      throw Object.assign(new Error('answer lost (test)'), { name: 'TimeoutError', $metadata: {} });
    }) as never,
    { step: 'finalizeRequest', priority: 'low', name: 'testLostAnswers' },
  );
  return (lost) => void pending.push(lost);
}

describeTokenStoreContract('DynamoDB (dynalite)', async () => {
  const dynalite = await startDynalite();
  const client = dynalite.client();
  const store = new DynamoTokenStore({ client, tableName: TABLE_NAME });
  return {
    store,
    loseNextAnswer: losingAnswers(client),
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
