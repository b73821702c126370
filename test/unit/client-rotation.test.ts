/**
 * The signing-key rotation's state machine (cli/rotation.ts) with in-memory keys and state:
 * phases in order, waits counted (not timed), failures keep the old key, a resumed run repeats
 * nothing already done.
 */
import { NotFoundError, RecallError } from 'zoom-token-vault-client';
import {
  nextKeyId,
  rotateSigningKey,
  RotationError,
  type Keyring,
  type KeyStore,
  type RotationDeps,
  type RotationState,
  type StateStore,
} from '../../cli/rotation';

function world(users: Array<{ user_id: string; status: string }>, keyring: Keyring = { active: 'k1', k1: 'a'.repeat(48) }) {
  let now = 1_000_000;
  const keys = { current: { ...keyring }, writes: [] as Keyring[] };
  const keyStore: KeyStore = {
    description: 'memory',
    propagationMs: 2_000,
    read: async () => ({ ...keys.current }),
    write: async (next) => {
      keys.current = { ...next };
      keys.writes.push({ ...next });
    },
  };
  const state: { current?: RotationState; saves: number; cleared: boolean } = { saves: 0, cleared: false };
  const stateStore: StateStore = {
    description: 'memory state',
    load: async () => (state.current ? structuredClone(state.current) : undefined),
    save: async (s) => {
      state.current = structuredClone(s);
      state.saves++;
    },
    clear: async () => {
      state.current = undefined;
      state.cleared = true;
    },
  };
  const sleeps: number[] = [];
  const resyncs: string[] = [];
  const failing = new Set<string>();
  const deps = (extra: Partial<RotationDeps> = {}): RotationDeps => ({
    keys: keyStore,
    state: stateStore,
    users: async function* () {
      yield* users;
    },
    resync: async (userId) => {
      resyncs.push(userId);
      if (failing.has(userId)) throw new RecallError({ status: 502, code: 'recall_error', message: 'Recall failed' });
      if (userId === 'gone') throw new NotFoundError({ status: 404, code: 'not_found', message: 'no credential for this user' });
    },
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    newKeyMaterial: () => 'n'.repeat(48),
    ...extra,
  });
  return { keys, state, sleeps, resyncs, failing, deps, advance: (ms: number) => (now += ms) };
}

const USERS = ['u1', 'u2', 'u3', 'gone'].map((user_id) => ({ user_id, status: 'active' }));

test('a full rotation: add, wait, activate, wait, re-sync all, remove the old key', async () => {
  // Prepare
  const w = world([...USERS, { user_id: 'dead', status: 'reauth_required' }]);

  // Act
  const result = await rotateSigningKey(w.deps());

  // Assess
  expect(result).toMatchObject({
    outcome: 'done',
    oldKid: 'k1',
    newKid: 'k2',
    synced: 4,
    skipped: [{ userId: 'dead', status: 'reauth_required' }],
  });
  expect(
    w.keys.writes.map(
      (keyring) =>
        `${keyring.active}:${Object.keys(keyring)
          .filter((kid) => kid !== 'active')
          .sort()}`,
    ),
  ).toEqual(['k1:k1,k2', 'k2:k1,k2', 'k2:k2']);
  expect(w.sleeps).toEqual([2_000, 2_000]);
  expect(w.resyncs).toEqual(['u1', 'u2', 'u3', 'gone']);
  expect(w.state.cleared).toBe(true);
});

test('a failing user keeps the old key; the next run retries only what is left', async () => {
  // Prepare
  const w = world(USERS);
  w.failing.add('u2');
  const first = await rotateSigningKey(w.deps());
  const resyncsBefore = w.resyncs.length;
  w.failing.clear();

  // Act
  const second = await rotateSigningKey(w.deps());

  // Assess
  expect(first).toMatchObject({ outcome: 'incomplete', failed: [{ userId: 'u2', status: 502, code: 'recall_error' }] });
  expect(w.keys.writes[1]).toMatchObject({ active: 'k2', k1: expect.any(String) });
  expect(second.outcome).toBe('done');
  expect(w.resyncs.slice(resyncsBefore)).toEqual(['u2']);
  expect(w.sleeps).toEqual([2_000, 2_000]); // the resumed run waits for nothing
  expect(Object.keys(w.keys.current).sort()).toEqual(['active', 'k2']);
});

test('interrupted right after adding the key: the resumed run waits only the time left and adds no second key', async () => {
  // Prepare
  const w = world(USERS);
  await rotateSigningKey(
    w.deps({
      hooks: {
        afterPhase: (phase) => {
          if (phase === 'key_added') throw new Error('crash');
        },
      },
    }),
  ).catch(() => undefined);
  w.advance(1_500);

  // Act
  const result = await rotateSigningKey(w.deps());

  // Assess
  expect(result.newKid).toBe('k2');
  expect(w.sleeps).toEqual([500, 2_000]);
  expect(w.keys.writes.filter((keyring) => keyring.active === 'k1')).toHaveLength(1);
});

test('a keyring changed outside the rotation stops it before the old key is touched', async () => {
  // Prepare
  const w = world(USERS);
  await rotateSigningKey(
    w.deps({
      hooks: {
        afterPhase: (phase) => {
          if (phase === 'key_activated') throw new Error('crash');
        },
      },
    }),
  ).catch(() => undefined);
  w.keys.current = { ...w.keys.current, active: 'k1' };

  // Act
  const error = await rotateSigningKey(w.deps()).catch((caught) => caught);

  // Assess
  expect(error).toBeInstanceOf(RotationError);
  expect(w.resyncs).toEqual([]);
  expect(w.keys.current.k1).toBeDefined();
  expect(String(error)).not.toContain('n'.repeat(48));
});

test('nextKeyId counts up from the highest numbered key', () => {
  expect(nextKeyId({ active: 'k1', k1: 'x' })).toBe('k2');
  expect(nextKeyId({ active: 'k9', k2: 'x', k9: 'y' })).toBe('k10');
  expect(nextKeyId({ active: 'primary', primary: 'x' })).toBe('k2');
});
