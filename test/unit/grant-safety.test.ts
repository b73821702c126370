/**
 * Grant safety (issue #7) and the callback that never waits on Zoom (issue #12), on the
 * in-memory ports: each test describes one case the redesign fixed. Zoom refresh tokens are
 * single-use, so what is asserted is how often Zoom was called, which outcome each refresher
 * reports, and what the user's record says at the end.
 *
 * The lease is kept alive on real timers: a test that needs renewals sets leaseRenewMs to a few
 * real milliseconds and waits for each renewal's write; every held Zoom call is released after
 * each test, so no renewal loop outlives it.
 */
import { TIMING } from '../../functions/domain/timing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import { ConflictError } from '../../functions/domain/errors';
import type { TokenStore } from '../../functions/domain/ports';
import { refreshUser, type RefreshOutcome } from '../../functions/domain/refresh';
import { refreshRequestedUser } from '../../functions/domain/refresh-work';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { settle, World, type StoreEvent, type ZoomStep, type ZoomStepHandle } from '../support/in-memory';

const SERVE_MARGIN_MS = 300_000;
/** Longer than the domain's lease (30 s). */
const PAST_THE_LEASE_MS = 31_000;
const HOUR_MS = 3_600_000;

/** A lease write (taking or renewing it) by `actor`. */
const leaseWriteBy = (actor: string) => (event: StoreEvent) =>
  event.op === 'update' && event.actor === actor && event.update?.lease != null;

let world: World;
let holds: ZoomStepHandle[];
const servers: http.Server[] = [];

function zoomNext(step: ZoomStep, only: { zoomUserId?: string } = {}): ZoomStepHandle {
  const handle = world.zoom.next(step, only);
  holds.push(handle);
  return handle;
}

/** A Zoom token endpoint on loopback that answers every request with `status` and `body`. */
async function zoomAnswering(status: number, body: unknown): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
}

/** An unsigned JWT-shaped access token with `exp` (seconds since the epoch). */
function jwtWithExp(exp: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part({ uid: 'zoom-u1', exp })}.signature`;
}

beforeEach(() => {
  world = new World();
  holds = [];
});

afterEach(async () => {
  for (const hold of holds) hold.release();
  await settle();
  await world.queue.drain();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('a slow Zoom answer', () => {
  test('Zoom spends the token and answers long after the old 8 s: the lease is renewed meanwhile, nobody takes over, the answer is stored', async () => {
    // Prepare: Zoom processes A's refresh at once and answers only when released; an answer
    // later than the wait A allowed would be lost (honourTimeout), as with the real client.
    const start = world.clock.now();
    await world.seedUser('u1', 200);
    const answer = zoomNext({ hold: 'after', honourTimeout: true });
    const a = refreshUser('u1', start + SERVE_MARGIN_MS, world.refreshDeps('A', { deadline: start + 60_000, timing: { leaseRenewMs: 5 } }));
    await answer.reached.promise;

    // Act: 9 s, then 31 s pass on the domain's clock, a lease renewal after each step; then
    // another worker tries; then Zoom's answer arrives.
    for (const at of [3_000, 6_000, 9_000, PAST_THE_LEASE_MS]) {
      const renewal = world.storePauses.pauseAt(leaseWriteBy('A'));
      world.clock.set(start + at);
      await renewal.reached.promise;
      renewal.release();
    }
    await settle();
    const leaseWhileWaiting = (await world.stored('u1')).user.lease;
    const b = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    answer.release();
    const aOutcome = await a;

    // Assess
    expect(world.zoom.calls[0].timeoutMs).toBeGreaterThan(PAST_THE_LEASE_MS);
    expect(leaseWhileWaiting!.expiresAt).toBeGreaterThanOrEqual(start + PAST_THE_LEASE_MS + 30_000);
    expect(b.kind).toBe('lease_held');
    expect(aOutcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 2 });
    expect(user.lease).toBeUndefined();
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
  });
});

describe('what a 2xx with both tokens is worth', () => {
  test.each([
    ['without expires_in', {}],
    ['with a non-numeric expires_in', { expires_in: 'soon' }],
  ])("%s: stored, the expiry taken from the access token's JWT exp", async (_label, extra) => {
    // Prepare: the real Zoom client against an endpoint giving both tokens and no usable expires_in.
    await world.seedUser('u1', 200);
    const exp = Math.floor(world.clock.now() / 1000) + 3_000;
    const tokenUrl = await zoomAnswering(200, { access_token: jwtWithExp(exp), refresh_token: 'refresh-new', ...extra });
    const zoom = createZoomTokenClient({ tokenUrl, clientId: 'id', clientSecret: () => 'secret' });

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A', { zoom }));

    // Assess
    expect(outcome.kind).toBe('refreshed');
    const { user, tokens } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 2, accessTokenExpiresAt: exp * 1000 });
    expect(tokens).toMatchObject({ accessToken: jwtWithExp(exp), refreshToken: 'refresh-new' });
    expect(world.store.dueIndex()).toEqual([{ userId: 'u1', dueAt: exp * 1000 }]);
  });

  test('the expiry is counted from when the refresh was sent, not from when the answer came', async () => {
    // Prepare: Zoom's answer (expires_in 3600) arrives 5 s after it was sent.
    const sentAt = world.clock.now();
    await world.seedUser('u1', 200);
    const answer = zoomNext({ hold: 'after' });
    const refresh = refreshUser('u1', sentAt + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await answer.reached.promise;

    // Act
    world.clock.advance(5_000);
    answer.release();
    const outcome = await refresh;

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect((await world.stored('u1')).user.accessTokenExpiresAt).toBe(sentAt + HOUR_MS);
  });
});

describe('invalid_request with reason "Invalid Token!"', () => {
  test('is a dead grant, judged after a re-read: reauth_required, not misconfigured', async () => {
    // Prepare: the real Zoom client against an endpoint answering Zoom's spent-token body.
    await world.seedUser('u1', 200);
    const tokenUrl = await zoomAnswering(400, { error: 'invalid_request', reason: 'Invalid Token!' });
    const zoom = createZoomTokenClient({ tokenUrl, clientId: 'id', clientSecret: () => 'secret' });
    const observed: string[] = [];

    // Act
    const outcome = await refreshUser(
      'u1',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('A', { zoom, observe: (kind) => observed.push(kind) }),
    );

    // Assess: one read before the lease, one after Zoom's answer.
    expect(outcome.kind).toBe('grant_dead');
    expect(observed).toEqual(['grant_dead']);
    expect(world.store.counts.consistentGet).toBe(2);
    const { user } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'reauth_required', reauthRequired: { code: 'invalid_request', message: 'Invalid Token!' } });
    expect(user.lease).toBeUndefined();
    expect(world.store.dueIndex()).toEqual([]);
  });
});

describe('a refresh the callback asked for', () => {
  test.each([429, 503] as const)(
    'a transient %s is retried within the answer budget: the waiting callback gets the new token',
    async (status) => {
      // Prepare: a token below the serve floor; Zoom refuses the first refresh.
      const { grant } = await world.seedUser('u1', 100);
      zoomNext({ fail: status });
      const serveSleep = async (ms: number) => {
        world.clock.advance(ms);
        await settle(1);
      };
      const startedAt = world.clock.now();

      // Act
      const served = await serveAccessToken('u1', world.serveDeps('callback', { sleep: serveSleep }), {
        deadline: startedAt + 4_000,
        pollIntervalMs: 100,
      });
      await world.queue.drain();

      // Assess
      expect(served.accessToken).not.toBe(grant.tokens.accessToken);
      expect(world.zoom.verifyAccessToken(served.accessToken)?.zoomUserId).toBe('zoom-u1');
      expect(world.zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      expect(world.queue.outcomeKinds()).toEqual(['refreshed']);
      expect(world.zoom.calls.map((call) => call.refreshToken)).toEqual([grant.tokens.refreshToken, grant.tokens.refreshToken]);
    },
  );

  test('the callback never calls Zoom: with no worker running it answers refresh_in_progress at its deadline', async () => {
    // Prepare
    await world.seedUser('u1', 100);
    world.queue.paused = true;

    // Act
    const attempt = serveAccessToken('u1', world.serveDeps('callback'), { deadline: world.clock.now() + 4_000 });

    // Assess
    await expect(attempt).rejects.toMatchObject({ reason: 'refresh_in_progress' });
    expect(world.zoom.stats.refreshCalls).toBe(0);
    expect(world.queue.requests).toEqual([{ userId: 'u1', reason: 'serve' }]);
  });
});

describe('too little time left', () => {
  test('the refresh token is not spent: retryable insufficient_time, the lease given back, no quick retry', async () => {
    // Prepare: 1 ms less than Zoom's minimum wait plus the save reserve.
    const { grant } = await world.seedUser('u1', 200);
    const deadline = world.clock.now() + TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs - 1;

    // Act
    const direct = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A', { deadline }));
    const requested = await refreshRequestedUser('u1', world.refreshDeps('worker', { deadline }), { windowMs: 900_000 });

    // Assess
    expect(direct).toEqual({ kind: 'retryable', error: 'insufficient_time' });
    expect(requested).toEqual({ kind: 'retryable', error: 'insufficient_time' });
    expect(world.zoom.stats.refreshCalls).toBe(0);
    expect(world.zoom.currentRefreshToken('zoom-u1')).toBe(grant.tokens.refreshToken);
    const { user, tokens } = await world.stored('u1');
    expect(tokens.refreshToken).toBe(grant.tokens.refreshToken);
    expect(user.lease).toBeUndefined();
    expect(user.lastError).toMatchObject({ code: 'refresh_not_started' });
  });

  test('with exactly enough time the refresh is sent', async () => {
    // Prepare
    await world.seedUser('u1', 200);

    // Act
    const outcome = await refreshUser(
      'u1',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('A', { deadline: world.clock.now() + TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs }),
    );

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect(world.zoom.calls.map((call) => call.timeoutMs)).toEqual([TIMING.zoomMinimumWaitMs]);
  });
});

describe('leases that expired or whose answer was lost', () => {
  test('a worker whose lease expired before it sent gets invalid_grant while the one that took over is in flight: no verdict, lease_held', async () => {
    // Prepare: A leases but its request is slow to reach Zoom; its lease runs out; B takes over,
    // and Zoom spends the token for B, B's answer still on its way.
    const { grant } = await world.seedUser('u1', 200);
    const aRequest = zoomNext({ hold: 'before' });
    const a = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await aRequest.reached.promise;
    world.clock.advance(PAST_THE_LEASE_MS);
    const bAnswer = zoomNext({ hold: 'after' });
    const b = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    await bAnswer.reached.promise;

    // Act: A's request reaches Zoom with the token B just spent.
    aRequest.release();
    const aOutcome = await a;
    const afterA = (await world.stored('u1')).user;
    bAnswer.release();
    const bOutcome = await b;

    // Assess
    expect(aOutcome.kind).toBe('lease_held');
    expect(afterA.status).toBe('active');
    expect(afterA.reauthRequired).toBeUndefined();
    expect(afterA.lease).toBeDefined();
    expect(bOutcome.kind).toBe('refreshed');
    expect(world.zoom.calls.map((call) => call.refreshToken)).toEqual([grant.tokens.refreshToken, grant.tokens.refreshToken]);
    expect(world.zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
    const { user, tokens } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 2 });
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
  });

  test('a lease write whose answer was lost (applied, then a conflict from the retry) is recognised as ours on the re-read', async () => {
    // Prepare: the store applies A's lease write, then throws as the SDK's retry of it would.
    await world.seedUser('u1', 200);
    const inner = world.store.withActor('A');
    let lost = 0;
    const store: TokenStore = {
      ...inner,
      async update(userId, condition, update) {
        const written = await inner.update(userId, condition, update);
        if (update.lease && lost === 0) {
          lost += 1;
          throw new ConflictError('stored item changed');
        }
        return written;
      },
    };

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A', { store }));

    // Assess
    expect(lost).toBe(1);
    expect(outcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 2 });
    expect(user.lease).toBeUndefined();
  });

  test("a holder killed between Zoom's answer and its write: the next worker's invalid_grant is lost_in_flight, not grant_dead", async () => {
    // Prepare: A's refresh is spent at Zoom and its answer never arrives (A is gone); another
    // user's grant is revoked, for the contrast.
    await world.seedUser('u1', 200);
    await world.seedUser('revoked', 200);
    world.zoom.revoke('zoom-revoked');
    const aAnswer = zoomNext({ hold: 'after' }, { zoomUserId: 'zoom-u1' });
    void refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A'));
    await aAnswer.reached.promise;
    world.clock.advance(PAST_THE_LEASE_MS);
    const observed: Array<RefreshOutcome['kind']> = [];

    // Act: B takes over while A might still be alive (its invocation could last a worker's
    // timeout): no verdict; once no holder can be alive, the next attempt gives it.
    const early = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('B'));
    const meanwhile = (await world.stored('u1')).user;
    world.clock.advance(TIMING.workerTimeoutMs);
    const lost = await refreshUser(
      'u1',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('B', { observe: (kind) => observed.push(kind) }),
    );
    const dead = await refreshUser(
      'revoked',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('B', { observe: (kind) => observed.push(kind) }),
    );

    // Assess
    expect(early).toEqual({ kind: 'retryable', error: 'invalid_grant_unconfirmed' });
    expect(meanwhile).toMatchObject({ status: 'active', lastError: { code: 'zoom_invalid_grant_unconfirmed' } });
    expect(lost.kind).toBe('lost_in_flight');
    expect(dead.kind).toBe('grant_dead');
    expect(observed).toEqual(['lost_in_flight', 'grant_dead']);
    const { user } = await world.stored('u1');
    expect(user).toMatchObject({ status: 'reauth_required', tokenGeneration: 1, reauthRequired: { code: 'lost_in_flight' } });
    expect(user.lease).toBeUndefined();
    expect((await world.stored('revoked')).user.reauthRequired).toMatchObject({ code: 'invalid_grant' });
    expect(world.store.dueIndex()).toEqual([]);
    // A's spending call, B's unconfirmed and confirmed attempts, the revoked user's.
    expect(world.zoom.stats).toEqual({ refreshCalls: 4, refreshOk: 1, invalidGrant: 3 });
  });
});
