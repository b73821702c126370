/**
 * The in-memory TokenStore the domain's unit tests run on: the same contract as the DynamoDB
 * store (test/integration/dynamo-store-contract.test.ts), plus its scripting hooks.
 */
import { ConflictError } from '../../functions/domain/errors';
import { InMemoryTokenStore, Pauses, type StoreEvent } from '../support/in-memory';
import { describeTokenStoreContract, sampleUser } from '../support/store-contract';

describeTokenStoreContract('in memory', async () => {
  const store = new InMemoryTokenStore();
  return { store, seedLegacy: async (user) => store.seedLegacy(user), loseNextAnswer: (lost) => store.loseNextAnswer(lost) };
});

describe('InMemoryTokenStore: scripting hooks', () => {
  test('a gate pauses one actor before its write while another writes first', async () => {
    // Prepare
    const store = new InMemoryTokenStore();
    await store.create(sampleUser('u1'));
    const pauses = new Pauses<StoreEvent>();
    store.gate = pauses.hook;
    const aBeforeWrite = pauses.pauseAt((event) => event.op === 'update' && event.actor === 'A');

    // Act
    const a = store.withActor('A').update('u1', { registrationId: 'registration-u1', version: 1 }, { updatedAt: 1 });
    const reached = await aBeforeWrite.reached.promise;
    await store.withActor('B').update('u1', { registrationId: 'registration-u1', version: 1 }, { updatedAt: 2 });
    aBeforeWrite.release();

    // Assess: A's condition is checked when it resumes, after B's write.
    expect(reached).toMatchObject({ op: 'update', userId: 'u1', actor: 'A', condition: { registrationId: 'registration-u1', version: 1 } });
    await expect(a).rejects.toBeInstanceOf(ConflictError);
    expect(store.writes.map((write) => [write.actor, write.ok])).toEqual([
      [undefined, true],
      ['B', true],
      ['A', false],
    ]);
    expect(store.counts).toMatchObject({ create: 1, update: 2, conflicts: 1 });
  });

  test('a throwing gate makes the operation fail without writing', async () => {
    // Prepare
    const store = new InMemoryTokenStore();
    await store.create(sampleUser('u1'));
    store.gate = async (event) => {
      if (event.op === 'update') throw new Error('throttled');
    };

    // Act
    const attempt = store.update('u1', { registrationId: 'registration-u1', version: 1 }, { updatedAt: 1 });

    // Assess
    await expect(attempt).rejects.toThrow('throttled');
    expect(store.peek('u1')?.version).toBe(1);
  });

  test('stale reads: a default read may miss the latest write, a consistent one never does', async () => {
    // Prepare
    const store = new InMemoryTokenStore({ staleReads: true });
    await store.create(sampleUser('u1'));

    // Act
    const eventualAfterCreate = await store.get('u1');
    await store.update('u1', { registrationId: 'registration-u1', version: 1 }, { updatedAt: 5 });
    const eventual = await store.get('u1');
    const consistent = await store.get('u1', { consistent: true });

    // Assess
    expect(eventualAfterCreate).toBeUndefined();
    expect(eventual?.version).toBe(1);
    expect(consistent?.version).toBe(2);
    expect(store.counts).toMatchObject({ get: 3, consistentGet: 1 });
  });
});
