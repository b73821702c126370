/**
 * Secrets read from Secrets Manager (adapters/secrets.ts) through the SDK's own client, against
 * the contract harness's Secrets Manager stand-in: cached for TIMING.secretMaxAgeMs, one call
 * shared by concurrent readers, a forced read always asks, a failed read is not remembered.
 */
import { secretReader } from '../../functions/adapters/secrets';
import { TIMING } from '../../functions/domain/timing';
import type { AwsRequest } from '../../local/aws-requests';
import { startSecretsManager, type SecretsManagerStandIn } from '../aws/stand-ins';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:recall-api-key-AbCdEf';
let secretsManager: SecretsManagerStandIn;
const requests: AwsRequest[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  secretsManager = await startSecretsManager((request) => requests.push(request));
  // The client is made on the first read, from the environment as in Lambda.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local-test',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
});

afterAll(async () => {
  process.env = saved;
  await secretsManager.close();
});

beforeEach(() => {
  requests.length = 0;
});

test('concurrent readers share one call; the value is kept for the cache time, then read again', async () => {
  // Prepare
  secretsManager.put(ARN, 'first');
  let now = 1_000_000;
  const read = secretReader({ kind: 'secrets-manager', ref: ARN }, () => now);

  // Act
  const together = await Promise.all([read(), read(), read()]);
  now += TIMING.secretMaxAgeMs - 1;
  secretsManager.put(ARN, 'second');
  const beforeExpiry = await read();
  now += 1;
  const afterExpiry = await read();

  // Assess
  expect(together).toEqual(['first', 'first', 'first']);
  expect(beforeExpiry).toBe('first');
  expect(afterExpiry).toBe('second');
  expect(requests.map((request) => [request.service, request.operation, request.input.SecretId])).toEqual([
    ['secretsmanager', 'GetSecretValue', ARN],
    ['secretsmanager', 'GetSecretValue', ARN],
  ]);
});

test('a forced read asks Secrets Manager whatever the cache holds', async () => {
  // Prepare
  secretsManager.put(ARN, 'old');
  const read = secretReader({ kind: 'secrets-manager', ref: ARN }, () => 0);
  await read();
  secretsManager.put(ARN, 'rotated');

  // Act
  const cached = await read();
  const forced = await read({ forceFetch: true });

  // Assess
  expect([cached, forced]).toEqual(['old', 'rotated']);
  expect(requests).toHaveLength(2);
});

test('a failed read is not remembered: the next read asks again', async () => {
  // Prepare: a secret that does not exist yet
  const missing = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:later-XyZ123';
  const read = secretReader({ kind: 'secrets-manager', ref: missing }, () => 0);

  // Act
  const failure = await read().catch((error: Error) => error.name);
  secretsManager.put(missing, 'now there');
  const value = await read();

  // Assess
  expect(failure).toBe('ResourceNotFoundException');
  expect(value).toBe('now there');
  expect(requests).toHaveLength(2);
});

test('an empty secret string is refused, naming no value', async () => {
  // Prepare
  secretsManager.put(ARN, '');
  const read = secretReader({ kind: 'secrets-manager', ref: ARN }, () => 0);

  // Act
  const failure = await read().catch((error: Error) => error.message);

  // Assess
  expect(failure).toBe('secret has no string value');
});

test('a value given directly is answered as it is, with no call', async () => {
  // Act
  const value = await secretReader({ kind: 'value', ref: 'local-value' })();

  // Assess
  expect(value).toBe('local-value');
  expect(requests).toHaveLength(0);
});
