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
  type RotationUser,
  type StateStore,
} from '../../cli/rotation';

function world(users: RotationUser[], keyring: Keyring = { active: 'k1', k1: 'a'.repeat(48) }) {
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
  /** What the API shows for a user after a failed re-sync (default: as listed). */
  const after = new Map<string, RotationUser | undefined>();
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
    status: async (userId) => (after.has(userId) ? after.get(userId) : users.find((user) => user.user_id === userId)),
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    newKeyMaterial: () => 'n'.repeat(48),
    ...extra,
  });
  return { keys, state, sleeps, resyncs, failing, after, deps, advance: (ms: number) => (now += ms) };
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

test('users it cannot re-sync do not block it: no credential, nothing to move; a dead grant, reported; the old key goes', async () => {
  // Prepare: healthy users, one Recall refused at registration (no credential), one whose grant died (credential kept).
  const w = world([
    { user_id: 'u1', status: 'active', recall_credential_id: 'c1' },
    { user_id: 'u2', status: 'recall_unhealthy', recall_credential_id: 'c2' },
    { user_id: 'refused', status: 'recall_failed', recall_credential_id: null },
    { user_id: 'dead', status: 'reauth_required', recall_credential_id: 'c-dead' },
    { user_id: 'removed', status: 'deauthorized', recall_credential_id: null },
  ]);

  // Act
  const result = await rotateSigningKey(w.deps());

  // Assess
  expect(w.resyncs).toEqual(['u1', 'u2']);
  expect(result).toMatchObject({
    outcome: 'done',
    synced: 2,
    withoutCredential: [{ userId: 'refused', status: 'recall_failed' }],
    skipped: [
      { userId: 'dead', status: 'reauth_required', credentialId: 'c-dead' },
      { userId: 'removed', status: 'deauthorized' },
    ],
    failed: [],
  });
  expect(Object.keys(w.keys.current).sort()).toEqual(['active', 'k2']);
});

test('a user Recall refuses whose credential still calls the old key: the key is kept, then removed with skipFailed', async () => {
  // Prepare
  const w = world([
    { user_id: 'u1', status: 'active', recall_credential_id: 'c1' },
    { user_id: 'stuck', status: 'active', recall_credential_id: 'c-stuck' },
  ]);
  w.failing.add('stuck');
  w.after.set('stuck', { user_id: 'stuck', status: 'recall_failed', recall_credential_id: 'c-stuck' });
  const stopped = await rotateSigningKey(w.deps());
  const keysWhenStopped = { ...w.keys.current };

  // Act
  const forced = await rotateSigningKey(w.deps({ skipFailed: true }));

  // Assess
  expect(stopped).toMatchObject({
    outcome: 'incomplete',
    failed: [{ userId: 'stuck', status: 502, code: 'recall_error', holdsCredential: true, credentialId: 'c-stuck' }],
  });
  expect(Object.keys(keysWhenStopped).sort()).toEqual(['active', 'k1', 'k2']);
  expect(w.resyncs).toEqual(['u1', 'stuck', 'stuck']);
  expect(forced).toMatchObject({ outcome: 'done', failed: [{ userId: 'stuck', holdsCredential: true }] });
  expect(Object.keys(w.keys.current).sort()).toEqual(['active', 'k2']);
});

test('a refused user left with no credential at Recall, or whose grant died meanwhile, does not keep the old key', async () => {
  // Prepare: both re-syncs fail; one lost its credential in the attempt, the other's grant was found dead.
  const w = world([
    { user_id: 'u1', status: 'active', recall_credential_id: 'c1' },
    { user_id: 'lost', status: 'active', recall_credential_id: 'c-lost' },
    { user_id: 'died', status: 'active', recall_credential_id: 'c-died' },
  ]);
  for (const userId of ['lost', 'died']) w.failing.add(userId);
  w.after.set('lost', { user_id: 'lost', status: 'recall_failed', recall_credential_id: null });
  w.after.set('died', { user_id: 'died', status: 'reauth_required', recall_credential_id: 'c-died' });

  // Act
  const result = await rotateSigningKey(w.deps());

  // Assess
  expect(result).toMatchObject({
    outcome: 'done',
    synced: 1,
    failed: [{ userId: 'lost', holdsCredential: false }],
    skipped: [{ userId: 'died', status: 'reauth_required', credentialId: 'c-died' }],
  });
  expect(Object.keys(w.keys.current).sort()).toEqual(['active', 'k2']);
});

test('a refused user whose state cannot be read counts as still holding its credential: the old key is kept', async () => {
  // Prepare
  const w = world([{ user_id: 'stuck', status: 'active', recall_credential_id: 'c-stuck' }]);
  w.failing.add('stuck');

  // Act
  const result = await rotateSigningKey(
    w.deps({
      status: async () => {
        throw new Error('unreachable');
      },
    }),
  );

  // Assess
  expect(result).toMatchObject({ outcome: 'incomplete', failed: [{ userId: 'stuck', holdsCredential: true }] });
  expect(w.keys.current.k1).toBeDefined();
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
