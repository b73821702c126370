/**
 * The dispatcher under deadline pressure, on the real DynamoTokenStore (dynalite, 8 due-index
 * shards): when not every due user fits in one run, the ones handed out are the most urgent and
 * the ones deferred are those due latest, whatever shard they live in.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { dispatchDueUsers } from '../../functions/domain/dispatch';
import type { Log, RefreshQueue, RefreshRequest } from '../../functions/domain/ports';
import type { StoredUser } from '../../functions/domain/token-record';
import { startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';

const T0 = 1_760_000_000_000;
const quiet: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

function user(userId: string, accessTokenExpiresAt: number): StoredUser {
  return {
    userId,
    registrationId: `registration-${userId}`,
    version: 1,
    status: 'active',
    sealed: { formatVersion: 1, encryptedDataKey: new Uint8Array([1]), iv: new Uint8Array(12), ciphertext: new Uint8Array(32) },
    accessTokenExpiresAt,
    tokenGeneration: 1,
    createdAt: T0,
    updatedAt: T0,
    recall: { status: 'registered' },
  };
}

class RecordingQueue implements RefreshQueue {
  readonly requests: RefreshRequest[] = [];
  async enqueue(requests: RefreshRequest[]): Promise<void> {
    this.requests.push(...requests);
  }
}

let dynalite: Dynalite;
let client: DynamoDBClient;
let store: DynamoTokenStore;

beforeEach(async () => {
  dynalite = await startDynalite();
  client = dynalite.client();
  store = new DynamoTokenStore({ client, tableName: TABLE_NAME, dueShards: 8 });
});

afterEach(async () => {
  client.destroy();
  await dynalite.close();
});

test("with maxUsers below the due count, the deferred users are exactly those due latest; the last shard's most overdue user goes first", async () => {
  // Prepare: ten due users, the most overdue in the last shard (7), the others in shards 0-6,
  // due one minute apart; two more users not due at all.
  const candidates = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const lastShard = candidates.find((userId) => store.shardOf(userId) === '7')!;
  const others = candidates.filter((userId) => store.shardOf(userId) !== '7').slice(0, 9);
  expect(new Set(others.map((userId) => store.shardOf(userId))).size).toBeGreaterThan(3);
  const byUrgency = [lastShard, ...others];
  const now = T0 + 3_600_000;
  for (const [rank, userId] of byUrgency.entries()) await store.create(user(userId, now - 600_000 + rank * 60_000));
  await store.create(user(candidates.find((userId) => !byUrgency.includes(userId))!, now + 5 * 3_600_000));
  const queue = new RecordingQueue();

  // Act: room for four only.
  const summary = await dispatchDueUsers(
    { store, refreshQueue: queue, clock: () => now, logger: quiet },
    { windowMs: 900_000, deadline: now + 60_000, maxUsers: 4 },
  );

  // Assess
  expect(summary).toMatchObject({ due: 10, dispatched: 4, deferred: 6, oldestDueAgeSeconds: 600 + 900 });
  expect(queue.requests).toEqual(byUrgency.slice(0, 4).map((userId) => ({ userId, reason: 'due' })));
  expect(queue.requests[0].userId).toBe(lastShard);
});
