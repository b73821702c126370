/**
 * GetSecretValue, the one Secrets Manager call the functions make (./secrets.ts caches it). The
 * client is made on the first read: a function that reads its secrets from a value or a file, as
 * the local runtime does, makes none.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AWS_CLIENT_OPTIONS } from './aws-client-options';

/** One client per container (region, credentials and endpoint from the environment). */
let client: SecretsManagerClient | undefined;

export async function getSecretString(secretId: string): Promise<string> {
  client ??= new SecretsManagerClient({ ...AWS_CLIENT_OPTIONS });
  const answer = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (typeof answer.SecretString !== 'string' || answer.SecretString === '') throw new Error('secret has no string value');
  return answer.SecretString;
}
