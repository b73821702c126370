/**
 * The floor the callback's cold start is measured against (`npm run bench`, never deployed): a
 * handler with the same three SDK clients the callback has (DynamoDB, KMS, SQS), made at module
 * scope, and the same three calls (GetItem, Decrypt, SendMessageBatch), and nothing else: no
 * logging, metrics, configuration or signature check. The bench builds it with the functions'
 * own build (scripts/build-handlers.ts, contract BUNDLING) and imports it beside the callback.
 *
 * It imports nothing of the project's (not even functions/contract.ts): whatever it held besides
 * the SDK would flatter the callback's ratio. Hence the literal names below.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';

const dynamo = new DynamoDBClient({});
const kms = new KMSClient({});
const sqs = new SQSClient({});

interface Event {
  queryStringParameters?: Record<string, string | undefined>;
}

/** The user's item, its data key decrypted, a refresh asked for when the token is close to expiry: no answer checked. */
export async function handler(event: Event): Promise<{ statusCode: number; body: string }> {
  const userId = event.queryStringParameters?.user_id ?? '';
  const { Item: item } = await dynamo.send(
    new GetItemCommand({ TableName: process.env.TABLE_NAME, Key: { user_id: { S: userId } }, ConsistentRead: true }),
  );
  if (!item?.edk?.B) return { statusCode: 403, body: 'forbidden' };
  const key = await kms.send(
    new DecryptCommand({ KeyId: process.env.KMS_KEY_ID, CiphertextBlob: item.edk.B, EncryptionContext: { purpose: 'zoom-token-vault' } }),
  );
  if (Number(item.access_expires_at?.N) - Date.now() < 300_000) {
    const body = JSON.stringify({ userId, reason: 'serve' });
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: process.env.REFRESH_QUEUE_URL, Entries: [{ Id: '0', MessageBody: body }] }));
  }
  return { statusCode: 200, body: String(key.Plaintext?.length ?? 0) };
}
