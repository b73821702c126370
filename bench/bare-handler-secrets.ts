/**
 * The cold-start floor with every SDK client the callback makes: bench/bare-handler.ts's three
 * (DynamoDB, KMS, SQS) and Secrets Manager, which the callback reads its URL-signing keys from
 * (and Recall's verification secret, when set). Like the callback, it makes the Secrets Manager
 * client on its first read, and reads only when a secret id is set (the local runtime's keys are
 * a file). Never deployed; built by the functions' own build, as bare-handler.ts is.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handler as bareHandler } from './bare-handler';

let secrets: SecretsManagerClient | undefined;
let keys: Promise<unknown> | undefined;

export async function handler(event: Parameters<typeof bareHandler>[0]): ReturnType<typeof bareHandler> {
  const secretId = process.env.SIGNING_KEYS_SECRET_ID;
  if (secretId) {
    secrets ??= new SecretsManagerClient({});
    keys ??= secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    await keys;
  }
  return bareHandler(event);
}
