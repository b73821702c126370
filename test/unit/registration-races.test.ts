/**
 * Registrations (PUT), deletions (DELETE) and Recall syncs racing a refresh, scripted step by
 * step on the in-memory ports. A refresh that was in flight across a new grant must never store
 * its pair over the new one: the new grant is what the user just authorized.
 */
import { UnreadableRecordError, UpstreamError } from '../../functions/domain/errors';
import type { TokenStore } from '../../functions/domain/ports';
import { refreshUser, type RefreshOutcome } from '../../functions/domain/refresh';
import { deleteUser, registerUser, syncRecallCredential } from '../../functions/domain/registration';
import type { StoredUser, TokenPair } from '../../functions/domain/token-record';
import { Pauses, World, type Grant, type RecallCall } from '../support/in-memory';

const SERVE_MARGIN_MS = 300_000;

let world: World;

beforeEach(() => {
  world = new World();
});

/** The user authorizes at Zoom and the backend PUTs the tokens. */
async function register(userId: string, expiresInSeconds = 3600): Promise<{ grant: Grant; user: StoredUser }> {
  const grant = world.zoom.authorize(world.recall.zoomUserOf(userId), expiresInSeconds);
  const { user } = await registerUser(
    userId,
    { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
    world.registrationDeps(),
  );
  return { grant, user };
}

/** Starts a refresh of `userId` whose Zoom call is processed (token spent) but whose answer waits. */
async function refreshHeldAtZoom(userId: string, store?: TokenStore) {
  const answer = world.zoom.next({ hold: 'after' });
  const outcome = refreshUser(userId, world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('refresher', store ? { store } : {}));
  const consumed = await answer.reached.promise;
  return { outcome, consumed, release: () => answer.release() };
}

test('a re-registration landing while a refresh is in flight: the refresh is discarded as superseded, the new grant survives', async () => {
  // Prepare: registered with a token inside the serve margin; a refresh reaches Zoom.
  const { grant: first } = await register('u1', 200);
  const refresh = await refreshHeldAtZoom('u1');

  // Act: the user authorizes again and the backend PUTs the new tokens; then Zoom's answer arrives.
  const { grant: second } = await register('u1', 3600);
  refresh.release();
  const outcome = await refresh.outcome;

  // Assess
  expect(refresh.consumed).toBe(first.tokens.refreshToken);
  expect(outcome.kind).toBe('superseded');
  const { user, tokens } = await world.stored('u1');
  expect(tokens).toEqual(second.tokens);
  expect(user).toMatchObject({
    status: 'active',
    tokenGeneration: 2,
    registeredGeneration: 2,
    accessTokenExpiresAt: second.accessTokenExpiresAt,
  });
  expect(user.lease).toBeUndefined();
  expect(user.recall).toMatchObject({ status: 'registered' });
  expect(world.recall.list()).toHaveLength(1);
  // The kept pair is the usable one: the next refresh works with it.
  world.clock.advance(3_400_000);
  const next = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('refresher'));
  expect(next.kind).toBe('refreshed');
  expect(world.zoom.calls.at(-1)?.refreshToken).toBe(second.tokens.refreshToken);
});

test("a replayed PUT (the first registration's tokens again) during a refresh writes nothing, and the refresh lands", async () => {
  // Prepare
  const { grant } = await register('u1', 200);
  const refresh = await refreshHeldAtZoom('u1');
  const writesBefore = world.store.writes.length;

  // Act
  const replay = await registerUser(
    'u1',
    { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
    world.registrationDeps(),
  );
  const writesByReplay = world.store.writes.slice(writesBefore);
  refresh.release();
  const outcome = await refresh.outcome;

  // Assess: writing the replayed (now spent) refresh token would have ended the grant at the next refresh.
  expect(replay.created).toBe(false);
  expect(writesByReplay).toEqual([]);
  expect(outcome.kind).toBe('refreshed');
  const { user, tokens } = await world.stored('u1');
  expect(user.tokenGeneration).toBe(2);
  expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
});

describe("DELETE, then a new registration, while the old grant's refresh is in flight", () => {
  interface Result {
    outcome: RefreshOutcome;
    /** `tokens` undefined: the stored pair does not open on this record. */
    stored: { user: StoredUser; tokens?: TokenPair };
    oldRegistrationId: string;
    newGrant: Grant;
  }

  /** The script; `storeForRefresh` lets the last test run it against a weaker write condition. */
  async function deleteAndReregisterDuringRefresh(storeForRefresh?: (store: TokenStore) => TokenStore): Promise<Result> {
    const { user: old } = await register('u1', 200);
    const refresh = await refreshHeldAtZoom('u1', storeForRefresh?.(world.store.withActor('refresher')));
    await deleteUser('u1', world.registrationDeps());
    // Separate requests, some time apart (Recall's idempotency key for the new registration
    // differs from the deleted one's only by the record's createdAt).
    world.clock.advance(1_000);
    const { grant: newGrant } = await register('u1', 3600);
    refresh.release();
    const outcome = await refresh.outcome;
    const stored = await world.stored('u1').catch((error: unknown) => {
      // A pair sealed for another record does not open on this one (what the last test shows).
      if (error instanceof UnreadableRecordError) return { user: world.store.peek('u1')!, tokens: undefined };
      throw error;
    });
    return { outcome, stored, oldRegistrationId: old.registrationId, newGrant };
  }

  /** What must hold: the new record carries the new grant, untouched by the old refresh. */
  const newGrantSurvived = (result: Result) =>
    result.stored.tokens?.refreshToken === result.newGrant.tokens.refreshToken && result.stored.user.version === 2;

  test("the old refresh's pair does not land on the new record (its registration id differs)", async () => {
    // Act
    const result = await deleteAndReregisterDuringRefresh();

    // Assess: the new record starts again at generation 1, exactly what the old refresh consumed,
    // so only the registration id tells them apart.
    expect(result.outcome.kind).toBe('superseded');
    expect(result.stored.user.registrationId).not.toBe(result.oldRegistrationId);
    expect(result.stored.user.tokenGeneration).toBe(1);
    expect(result.stored.tokens).toEqual(result.newGrant.tokens);
    expect(newGrantSurvived(result)).toBe(true);
    // One credential at Recall: the old one was deleted with the user.
    expect(world.recall.list()).toHaveLength(1);
    expect(world.recall.count('delete')).toBe(1);
  });

  // Shows the test above can fail: with a condition on the generation alone, the old pair lands.
  test('the same script with a write condition that ignores the registration id lets the old pair overwrite the new grant', async () => {
    // Prepare: a store view whose conditions take whatever registration is stored.
    const ignoringRegistration = (store: TokenStore): TokenStore => ({
      get: (userId, options) => store.get(userId, options),
      create: (user) => store.create(user),
      delete: (userId, condition) => store.delete(userId, condition),
      listWhere: (field, value, page) => store.listWhere(field, value, page),
      findByZoomUser: (zoomUserId) => store.findByZoomUser(zoomUserId),
      listDue: (dueBefore) => store.listDue(dueBefore),
      async update(userId, condition, update) {
        const current = await store.get(userId, { consistent: true });
        return store.update(userId, { ...condition, registrationId: current?.registrationId ?? condition.registrationId }, update);
      },
    });

    // Act
    const result = await deleteAndReregisterDuringRefresh(ignoringRegistration);

    // Assess: the new grant is overwritten; the old pair, sealed for the old registration, does
    // not even open on the new record (the AAD binding, a second line behind the condition).
    expect(result.outcome.kind).toBe('refreshed');
    expect(newGrantSurvived(result)).toBe(false);
    expect(result.stored.tokens).toBeUndefined();
  });
});

test('a Recall sync and a refresh at once: the Recall outcome and the refreshed pair are both kept', async () => {
  // Prepare: registered, but Recall failed; the token is inside the serve margin.
  world.recall.failNext('create');
  await expect(register('u1', 200)).rejects.toBeInstanceOf(UpstreamError);
  expect(world.store.peek('u1')!.recall.status).toBe('failed');
  const recallPauses = new Pauses<RecallCall>();
  world.recall.gate = recallPauses.hook;
  const atRecall = recallPauses.pauseAt((call) => call.method === 'create');

  // Act: the sync reaches Recall; a whole refresh runs; then Recall answers.
  const sync = syncRecallCredential('u1', world.registrationDeps('sync'));
  await atRecall.reached.promise;
  const refreshed = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('refresher'));
  atRecall.release();
  const synced = await sync;

  // Assess
  expect(refreshed.kind).toBe('refreshed');
  expect(synced.recall).toMatchObject({ status: 'registered', callbackKeyId: 'k1' });
  const { user, tokens } = await world.stored('u1');
  expect(user).toMatchObject({ tokenGeneration: 2, recall: { status: 'registered', credentialId: world.recall.list()[0].id } });
  expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
});
