/**
 * Refresh races, scripted step by step on the in-memory ports: no real timers, no I/O. Zoom's
 * refresh tokens are single-use, so what matters is how many times Zoom was called, which pair
 * is stored at the end, and which status the user is left in. Tested through the public domain
 * functions (refreshUser, serveAccessToken, dispatchDueUsers, refreshRequestedUser through the
 * world's in-process queue) only.
 *
 * The refresh keeps its lease alive on real timers (every leaseRenewMs, 10 s): these tests take
 * far less real time, so no renewal happens unless a test asks for one; every held Zoom call is
 * released after each test so no renewal loop outlives it.
 */
import { dispatchDueUsers } from '../../functions/domain/dispatch';
import { TokenUnavailableError } from '../../functions/domain/errors';
import { refreshUser, type RefreshOutcome } from '../../functions/domain/refresh';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { deferred, settle, World, type StoreEvent, type ZoomStep, type ZoomStepHandle } from '../support/in-memory';

const SERVE_MARGIN_MS = 300_000;
/** Longer than the domain's default lease (30 s). */
const PAST_THE_LEASE_MS = 31_000;

/** A lease write (the first write of a refresh) by `actor`. */
const leaseWriteBy = (actor: string) => (event: StoreEvent) =>
  event.op === 'update' && event.actor === actor && event.update?.lease != null;

function tokensOf(outcome: RefreshOutcome) {
  if (outcome.kind !== 'refreshed') throw new Error(`expected refreshed, got ${outcome.kind}`);
  return outcome.tokens;
}

let world: World;
let holds: ZoomStepHandle[];

/** A scripted Zoom step whose hold is released after the test in any case. */
function zoomNext(step: ZoomStep, only: { zoomUserId?: string } = {}): ZoomStepHandle {
  const handle = world.zoom.next(step, only);
  holds.push(handle);
  return handle;
}

beforeEach(() => {
  world = new World();
  holds = [];
});

afterEach(async () => {
  for (const hold of holds) hold.release();
  await settle();
  await world.queue.drain();
});

describe('two refreshers at once', () => {
  test('both read the same version: the second lease write loses, Zoom is called once, both end with the new token', async () => {
    // Prepare: a token inside the serve margin; both workers stop just before their lease write.
    await world.seedUser('u1', 200);
    const aAtLease = world.storePauses.pauseAt(leaseWriteBy('A'));
    const bAtLease = world.storePauses.pauseAt(leaseWriteBy('B'));
    const bAtZoom = zoomNext({ hold: 'before' });
    const freshUntil = () => world.clock.now() + SERVE_MARGIN_MS;

    // Act: B writes its lease first and reaches Zoom; only then A tries its lease write.
    const a = refreshUser('u1', freshUntil(), world.refreshDeps('A'));
    const b = refreshUser('u1', freshUntil(), world.refreshDeps('B'));
    await aAtLease.reached.promise;
    await bAtLease.reached.promise;
    bAtLease.release();
    await bAtZoom.reached.promise;
    aAtLease.release();
    const aOutcome = await a;
    bAtZoom.release();
    const bOutcome = await b;
    const aServed = await serveAccessToken('u1', world.serveDeps('A'), { deadline: world.clock.now() + 4_000 });

    // Assess
    expect(aOutcome.kind).toBe('lease_held');
    expect(bOutcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    expect(aServed.accessToken).toBe(tokensOf(bOutcome).accessToken);
    const { user, tokens } = await world.stored('u1');
    expect(user).toMatchObject({ tokenGeneration: 2, status: 'active' });
    expect(user.lease).toBeUndefined();
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
  });

  test("a callback below the serve floor, the lease taken: waits for the holder's write and serves the new token", async () => {
    // Prepare: A (a worker) holds the lease, its Zoom answer held back. The token has 100 s left:
    // below the serve floor (150 s), so the callback must not just hand it out.
    const { grant } = await world.seedUser('u1', 100);
    const aAnswer = zoomNext({ hold: 'after' });
    const a = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await aAnswer.reached.promise;
    const callbackSleeps: number[] = [];
    // A's answer arrives during the callback's third poll: the first two find the lease still held.
    const callbackSleep = async (ms: number) => {
      callbackSleeps.push(ms);
      world.clock.advance(ms);
      if (callbackSleeps.length === 3) {
        aAnswer.release();
        await a;
      }
    };

    // Act
    const served = await serveAccessToken('u1', world.serveDeps('callback', { sleep: callbackSleep }), {
      deadline: world.clock.now() + 4_000,
      pollIntervalMs: 100,
    });

    // Assess (A released in any case, so a failing test fails instead of hanging)
    aAnswer.release();
    const aOutcome = await a;
    await world.queue.drain();
    expect(served.accessToken).toBe(tokensOf(aOutcome).accessToken);
    expect(served.accessToken).not.toBe(grant.tokens.accessToken);
    expect(callbackSleeps).toEqual([100, 100, 100]);
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    expect(world.zoom.calls.map((call) => call.refreshToken)).toEqual([grant.tokens.refreshToken]);
    expect((await world.stored('u1')).user.tokenGeneration).toBe(2);
    // The refresh the callback asked for found A's lease, or A's new token.
    expect(world.queue.requests).toEqual([{ userId: 'u1', reason: 'serve' }]);
    expect(world.queue.outcomeKinds()).toEqual([expect.stringMatching(/^(lease_held|fresh)$/)]);
  });

  test('a callback while the holder is still at Zoom serves the stored token at once (>= 150 s left), or refuses at its deadline', async () => {
    // Prepare: two users, A's refresh held at Zoom for each; one token still has 200 s (Recall
    // accepts >= 120 s), the other only 100 s.
    await world.seedUser('enough', 200);
    await world.seedUser('short', 100);
    const enoughHeld = zoomNext({ hold: 'before' }, { zoomUserId: 'zoom-enough' });
    const shortHeld = zoomNext({ hold: 'before' }, { zoomUserId: 'zoom-short' });
    void refreshUser('enough', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    void refreshUser('short', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await enoughHeld.reached.promise;
    await shortHeld.reached.promise;
    const original = (await world.stored('enough')).tokens;

    // Act
    const served = await serveAccessToken('enough', world.serveDeps('callback'), { deadline: world.clock.now() + 1_000 });
    const refused = serveAccessToken('short', world.serveDeps('callback'), { deadline: world.clock.now() + 1_000 });

    // Assess: no second Zoom call in either case.
    expect(served.accessToken).toBe(original.accessToken);
    await expect(refused).rejects.toBeInstanceOf(TokenUnavailableError);
    await expect(refused).rejects.toMatchObject({ reason: 'refresh_in_progress' });
    await world.queue.drain();
    expect(world.zoom.stats.refreshCalls).toBe(2);
    expect(world.queue.outcomeKinds()).toEqual(['lease_held', 'lease_held']);
  });
});

describe('a lease holder that dies or is slow', () => {
  test('a dead holder blocks until its lease expires, then the next worker takes over and refreshes once', async () => {
    // Prepare: A takes the lease and dies before Zoom processes its request (never released).
    const { grant } = await world.seedUser('u1', 200);
    const aDies = zoomNext({ hold: 'before' });
    void refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await aDies.reached.promise;

    // Act
    const whileLeased = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    world.clock.advance(PAST_THE_LEASE_MS);
    const takeover = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));

    // Assess
    expect(whileLeased.kind).toBe('lease_held');
    expect(takeover.kind).toBe('refreshed');
    // Zoom processed only B's request (A's never arrived).
    expect(world.zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await world.stored('u1');
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
    expect(tokens.refreshToken).not.toBe(grant.tokens.refreshToken);
    expect(user).toMatchObject({ tokenGeneration: 2, status: 'active' });
    expect(user.lease).toBeUndefined();
  });

  test("invalid_grant after taking over from a holder that may still be alive: no verdict; the slow holder's pair lands", async () => {
    // Prepare: Zoom processes A's refresh (spending the token) but A's answer is slow, and A's
    // lease runs out meanwhile (no renewal: no real time passes).
    await world.seedUser('u1', 200);
    const aAnswer = zoomNext({ hold: 'after' });
    const a = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await aAnswer.reached.promise;

    // Act: A's lease expires; B takes over and spends the same (already spent) token.
    world.clock.advance(PAST_THE_LEASE_MS);
    const bOutcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    const afterB = await world.stored('u1');
    const dueAfterB = world.store.dueIndex();
    aAnswer.release();
    const aOutcome = await a;

    // Assess: A could still be running (a worker lives up to its timeout), so B gives no verdict:
    // the user stays active and due, and A's pair, written on the consumed generation, lands.
    expect(bOutcome).toEqual({ kind: 'retryable', error: 'invalid_grant_unconfirmed' });
    expect(afterB.user).toMatchObject({ status: 'active', tokenGeneration: 1, lastError: { code: 'zoom_invalid_grant_unconfirmed' } });
    expect(dueAfterB.map((entry) => entry.userId)).toEqual(['u1']);
    expect(aOutcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
    const { user, tokens } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 2 });
    expect(user.reauthRequired).toBeUndefined();
    expect(world.store.dueIndex().map((entry) => entry.userId)).toEqual(['u1']);
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
  });

  test('invalid_grant for the slow holder after the worker that took over stored a new pair: the re-read shows the winner', async () => {
    // Prepare: A's request is slow to reach Zoom.
    const { grant } = await world.seedUser('u1', 200);
    const aRequest = zoomNext({ hold: 'before' });
    const a = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    const consumedByA = await aRequest.reached.promise;

    // Act: B takes over the expired lease and refreshes; then A's request reaches Zoom.
    world.clock.advance(PAST_THE_LEASE_MS);
    const bOutcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    aRequest.release();
    const aOutcome = await a;

    // Assess
    expect(consumedByA).toBe(grant.tokens.refreshToken);
    expect(bOutcome.kind).toBe('refreshed');
    expect(aOutcome).toMatchObject({ kind: 'fresh', user: { tokenGeneration: 2 } });
    expect(world.zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
    const { user, tokens } = await world.stored('u1');
    expect(user.status).toBe('active');
    expect(user.reauthRequired).toBeUndefined();
    expect(tokens).toEqual(tokensOf(bOutcome));
  });

  // The counterpart of the two above: with nobody else involved, invalid_grant is the verdict.
  test('invalid_grant with no other worker involved marks the user reauth_required and takes it out of the due index', async () => {
    // Prepare
    await world.seedUser('u1', 200);
    world.zoom.revoke('zoom-u1');

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));

    // Assess
    expect(outcome.kind).toBe('grant_dead');
    const { user } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'reauth_required', tokenGeneration: 1, reauthRequired: { code: 'invalid_grant' } });
    expect(user.lease).toBeUndefined();
    expect(world.store.dueIndex()).toEqual([]);
  });
});

describe('Zoom failing', () => {
  test.each([429, 503] as const)(
    '%s spends nothing: the lease is given back and the next attempt refreshes with the same token',
    async (status) => {
      // Prepare
      const { grant } = await world.seedUser('u1', 200);
      zoomNext({ fail: status });

      // Act
      const first = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
      const afterFirst = await world.stored('u1');
      const second = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));

      // Assess
      expect(first).toEqual({ kind: 'retryable', error: `http_${status}`, status });
      expect(afterFirst.user.lease).toBeUndefined();
      expect(afterFirst.user.lastError).toMatchObject({ code: 'zoom_unavailable' });
      expect(second.kind).toBe('refreshed');
      expect(world.zoom.calls.map((call) => call.refreshToken)).toEqual([grant.tokens.refreshToken, grant.tokens.refreshToken]);
      expect((await world.stored('u1')).user.tokenGeneration).toBe(2);
    },
  );

  test.each([
    ['an answer lost after Zoom spent the token', { lose: true } as const],
    ['a 200 answer missing fields', { malformed: true } as const],
  ])('%s: answer_lost, the stored pair untouched and the lease left behind expired, as a mark', async (_label, step) => {
    // Prepare
    const { grant } = await world.seedUser('u1', 200);
    zoomNext(step);

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));

    // Assess: Zoom did rotate (the token is gone there); we could not know the new pair.
    expect(outcome.kind).toBe('answer_lost');
    expect(world.zoom.currentRefreshToken('zoom-u1')).not.toBe(grant.tokens.refreshToken);
    const { user, tokens } = await world.stored('u1');
    expect(tokens.refreshToken).toBe(grant.tokens.refreshToken);
    expect(user).toMatchObject({ tokenGeneration: 1, status: 'active', lastError: { code: 'zoom_answer_lost' } });
    expect(user.lease).toBeDefined();
    expect(user.lease!.expiresAt).toBeLessThanOrEqual(world.clock.now());
  });

  test('a refreshed pair is sealed with the data key reserved before Zoom was called: KMS failing by then does not matter', async () => {
    // Prepare: every seal that would need KMS fails (throttled).
    await world.seedUser('u1', 200);
    world.cipher.failNext('seal', 2);

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));

    // Assess: one reservation, one seal with it, no KMS seal, no retry.
    expect(outcome.kind).toBe('refreshed');
    expect(world.cipher.counts).toMatchObject({ prepare: 1, seal: 0 });
    expect(world.cipher.preparedSeals).toBe(1);
    expect(world.clock.sleeps).toEqual([]);
    expect(world.zoom.stats.refreshCalls).toBe(1);
    expect((await world.stored('u1')).tokens).toEqual(tokensOf(outcome));
  });
});

describe('a dispatch and the workers', () => {
  test("one user's failure never stops the others: a 503 is retried at once, a storage error and a dead grant stay with their users", async () => {
    // Prepare: five users due within the window, one not; one's record cannot be read, one's
    // grant is revoked, one's first Zoom call gets a 503.
    const window = 900_000;
    for (const userId of ['ok-1', 'ok-2', 'broken', 'revoked', 'flaky']) await world.seedUser(userId, 200);
    await world.seedUser('later', 7200);
    world.zoom.revoke('zoom-revoked');
    zoomNext({ fail: 503 }, { zoomUserId: 'zoom-flaky' });
    world.store.gate = async (event) => {
      if (event.op === 'get' && event.userId === 'broken') {
        const error = new Error('throttled');
        error.name = 'ProvisionedThroughputExceededException';
        throw error;
      }
    };

    // Act
    const summary = await dispatchDueUsers(
      { store: world.store, refreshQueue: world.queue, clock: world.clock.clock, logger: world.log },
      { windowMs: window, maxUsers: 100, deadline: world.clock.now() + 60_000 },
    );
    await world.queue.drain();

    // Assess
    expect(summary).toMatchObject({ due: 5, dispatched: 5, deferred: 0 });
    expect(world.queue.outcomeKinds()).toEqual(['error', 'grant_dead', 'refreshed', 'refreshed', 'refreshed']);
    expect((await world.stored('ok-1')).user.tokenGeneration).toBe(2);
    expect((await world.stored('ok-2')).user.tokenGeneration).toBe(2);
    expect((await world.stored('flaky')).user).toMatchObject({ tokenGeneration: 2, status: 'active' });
    expect((await world.stored('revoked')).user.status).toBe('reauth_required');
    expect((await world.stored('later')).user.version).toBe(1);
    const stillDue = world.store
      .dueIndex()
      .filter((entry) => entry.dueAt <= world.clock.now() + window)
      .map((entry) => entry.userId);
    expect(stillDue).toEqual(['broken']);
    expect(world.zoom.stats).toEqual({ refreshCalls: 5, refreshOk: 3, invalidGrant: 1 });
  });
});

describe('the doubles themselves', () => {
  test('a held Zoom call really waits: nothing is stored until it is released', async () => {
    // Prepare
    await world.seedUser('u1', 200);
    const held = zoomNext({ hold: 'after' });
    const done = deferred<RefreshOutcome>();
    void refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A')).then(done.resolve);

    // Act
    await held.reached.promise;
    await settle();
    const whileHeld = await world.stored('u1');
    held.release();
    await done.promise;

    // Assess
    expect(done.settled).toBe(true);
    expect(whileHeld.user.tokenGeneration).toBe(1);
    expect(whileHeld.user.lease).toBeDefined();
    expect((await world.stored('u1')).user.tokenGeneration).toBe(2);
  });
});
