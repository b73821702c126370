/**
 * The adapter that reads Recall's verification secret from Secrets Manager (the SDK call mocked
 * at its function): cached reads, a fresh read for a signature the cached secret does not match
 * at most once per interval, each value parsed once.
 */
import { recallVerificationKeyReader } from '../../functions/adapters/secrets';
import { getSecretString } from '../../functions/adapters/secrets-manager';
import { TIMING } from '../../functions/domain/timing';

jest.mock('../../functions/adapters/secrets-manager', () => ({ getSecretString: jest.fn() }));

const getSecretMock = getSecretString as jest.MockedFunction<typeof getSecretString>;
const OLD = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const NEW = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

test('forces a fresh read at most once per interval; otherwise reads through the cache', async () => {
  // Prepare: Secrets Manager holds the placeholder until the operator puts Recall's value.
  let stored = 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL';
  getSecretMock.mockImplementation(async () => stored);
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
  // The first read, the fresh one, and the fresh one allowed after the interval; the refused one read the cache.
  expect(getSecretMock.mock.calls).toEqual([['arn:recall-verification'], ['arn:recall-verification'], ['arn:recall-verification']]);
});
