/**
 * serveAccessToken's three bands, at their edges: served (at least the serve margin left),
 * served at once with a refresh requested (at least the serve floor), and waited for (below the
 * floor: at most the deadline, then TokenUnavailableError). The callback never calls Zoom itself.
 */
import { TokenUnavailableError } from '../../functions/domain/errors';
import type { RefreshRequest } from '../../functions/domain/ports';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { TIMING } from '../../functions/domain/timing';
import { InMemoryCipher } from '../support/in-memory/cipher';
import { MemoryLog } from '../support/in-memory/log';
import { InMemoryTokenStore } from '../support/in-memory/token-store';

const NOW = Date.parse('2030-01-01T00:00:00Z');

async function setup(lifeMs: number) {
  const store = new InMemoryTokenStore();
  const cipher = new InMemoryCipher();
  let now = NOW;
  await store.create({
    userId: 'u1',
    registrationId: 'a1b2c3d4-0000-4000-8000-000000000001',
    version: 1,
    status: 'active',
    sealed: await cipher.seal(
      { userId: 'u1', registrationId: 'a1b2c3d4-0000-4000-8000-000000000001', tokenGeneration: 1 },
      { accessToken: 'stored-access', refreshToken: 'stored-refresh' },
    ),
    accessTokenExpiresAt: NOW + lifeMs,
    tokenGeneration: 1,
    createdAt: NOW,
    updatedAt: NOW,
    recall: { status: 'registered' },
  });
  const requested: RefreshRequest[] = [];
  const deps = {
    store,
    cipher,
    clock: () => now,
    logger: new MemoryLog(),
    refreshQueue: { enqueue: async (requests: RefreshRequest[]) => void requested.push(...requests) },
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  return { deps, requested };
}

test.each([
  ['exactly the serve margin left: served, no refresh asked for', TIMING.serveMarginMs, 0],
  ['just under the margin, at the floor: served at once, one refresh asked for', TIMING.serveFloorMs, 1],
])('%s', async (_name, lifeMs, refreshes) => {
  // Prepare
  const { deps, requested } = await setup(lifeMs);

  // Act
  const served = await serveAccessToken('u1', deps, { deadline: NOW + TIMING.answerBudgetMs });

  // Assess
  expect(served.accessToken).toBe('stored-access');
  expect(requested).toHaveLength(refreshes);
});

test('just under the floor: a refresh is asked for and waited for until the deadline, then no token', async () => {
  // Prepare
  const { deps, requested } = await setup(TIMING.serveFloorMs - 1);

  // Act
  const answer = serveAccessToken('u1', deps, { deadline: NOW + TIMING.answerBudgetMs, pollIntervalMs: 100 });

  // Assess
  await expect(answer).rejects.toBeInstanceOf(TokenUnavailableError);
  expect(requested).toEqual([{ userId: 'u1', reason: 'serve' }]);
  expect(deps.store.counts.consistentGet).toBeGreaterThan(30);
  expect(deps.store.counts.consistentGet).toBeLessThanOrEqual(41);
});
