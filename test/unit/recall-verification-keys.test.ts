/**
 * The adapter that reads Recall's verification secret from Secrets Manager (Powertools
 * Parameters, mocked at its function): cached reads, a fresh read for a signature the cached
 * secret does not match at most once per interval, each value parsed once.
 */
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { recallVerificationKeyReader } from '../../functions/adapters/secrets';
import { TIMING } from '../../functions/domain/timing';

jest.mock('@aws-lambda-powertools/parameters/secrets', () => ({ getSecret: jest.fn() }));

const getSecretMock = getSecret as jest.MockedFunction<typeof getSecret>;
const OLD = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const NEW = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

test('forces a fresh read at most once per interval; otherwise reads through the cache', async () => {
  // Prepare: Secrets Manager holds the placeholder until the operator puts Recall's value.
  let stored = 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL';
  getSecretMock.mockImplementation((async () => stored) as never);
  let now = 1_000_000;
  const keys = recallVerificationKeyReader({ kind: 'secrets-manager', ref: 'arn:recall-verification' }, () => now);

  // Act
  const before = await keys();
  stored = `${OLD} ${NEW}`;
  const fresh = await keys({ fresh: true });
  const refused = await keys({ fresh: true });
  now += TIMING.keyringRefreshMinIntervalMs;
  const allowed = await keys({ fresh: true });

  // Assess
  expect(before).toEqual({ unusable: 'placeholder' });
  expect(fresh).toEqual({ keys: [Buffer.alloc(32, 1), Buffer.alloc(32, 2)] });
  expect(refused).toBe(fresh); // the same parse: one per value
  expect(allowed).toBe(fresh);
  expect(getSecretMock.mock.calls.map(([, options]) => options?.forceFetch)).toEqual([false, true, false, true]);
  expect(getSecretMock.mock.calls.every(([id, options]) => id === 'arn:recall-verification' && options?.maxAge === 300)).toBe(true);
});
