/**
 * Grant safety II (issue #18), on the in-memory ports: a user's identity spans records (a user
 * deleted and registered again, a grant replaced), and the AWS SDK re-sends a write whose answer
 * was lost. Each describe is one finding of the issue; each test failed before its fix.
 *
 * The lease is kept alive on real timers: a test that needs a renewal sets leaseRenewMs to a few
 * real milliseconds and waits for the renewal's write; every held Zoom call is released after
 * each test, so no renewal loop outlives it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { createRecallClient } from '../../functions/adapters/recall-client';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import { ConflictError, UnreadableRecordError, UpstreamError } from '../../functions/domain/errors';
import type { TokenStore, ZoomRefreshResult, ZoomTokenClient } from '../../functions/domain/ports';
import { refreshUser } from '../../functions/domain/refresh';
import { refreshRequestedUser } from '../../functions/domain/refresh-work';
import { TIMING } from '../../functions/domain/timing';
import { deleteUser, registerUser } from '../../functions/domain/registration';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { deauthorizeZoomUser } from '../../functions/domain/zoom-deauthorization';
import type { LifecycleEvent } from '../../functions/domain/events';
import type { StoredUser } from '../../functions/domain/token-record';
import {
  deferred,
  Pauses,
  settle,
  World,
  type Grant,
  type RecallCall,
  type StoreEvent,
  type ZoomStep,
  type ZoomStepHandle,
} from '../support/in-memory';

const SERVE_MARGIN_MS = 300_000;

let world: World;
let holds: ZoomStepHandle[];

function zoomNext(step: ZoomStep, only: { zoomUserId?: string } = {}): ZoomStepHandle {
  const handle = world.zoom.next(step, only);
  holds.push(handle);
  return handle;
}

/** The user authorizes `zoomUserId` at Zoom and the backend PUTs the tokens (Recall resolves the same Zoom user). */
async function register(userId: string, zoomUserId: string, expiresInSeconds = 3600, events?: LifecycleEvent[]) {
  world.recall.zoomUsers.set(userId, zoomUserId);
  const grant = world.zoom.authorize(zoomUserId, expiresInSeconds);
  const result = await registerUser(
    userId,
    { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
    { ...world.registrationDeps(), ...(events ? { events: collector(events) } : {}) },
  );
  return { grant, ...result };
}

function collector(events: LifecycleEvent[]) {
  return { publish: async (batch: LifecycleEvent[]) => void events.push(...batch) };
}

/** The Zoom user an access token was issued to (the in-memory Zoom's ground truth). */
const zoomUserOf = (accessToken: string) => world.zoom.verifyAccessToken(accessToken)?.zoomUserId;

beforeEach(() => {
  world = new World();
  holds = [];
});

afterEach(async () => {
  for (const hold of holds) hold.release();
  await settle();
  await world.queue.drain();
});

describe('finding 1: a refresh held across a DELETE and a re-registration with another Zoom user', () => {
  /** alice registered with Zoom user A (version 1); a worker's refresh spent A's token at Zoom and waits for the answer. */
  async function heldRefresh(timing: { leaseRenewMs?: number } = {}) {
    world.recall.zoomUsers.set('alice', 'zoom-a');
    const first = await world.seedUser('alice', 200);
    const answer = zoomNext({ hold: 'after' }, { zoomUserId: 'zoom-a' });
    const refresh = refreshUser(
      'alice',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('worker', { deadline: world.clock.now() + 60_000, timing }),
    );
    await answer.reached.promise;
    return { first, answer, refresh };
  }

  /**
   * DELETE alice, then PUT a grant of Zoom user B: a new registration whose version restarts at 1
   * and is 2 once Recall's credential is recorded, the version of the worker's lease on the old one.
   */
  async function reregisterAsB(): Promise<{ grant: Grant; user: StoredUser }> {
    await deleteUser('alice', world.registrationDeps());
    world.clock.advance(1_000);
    const { grant, user } = await register('alice', 'zoom-b', 3600);
    return { grant, user };
  }

  test("the worker's lease renewal and save do not land on the new registration: B's grant stays, B's callback serves B's token", async () => {
    // Prepare: the lease is renewed every few real ms while Zoom holds the answer.
    const { answer, refresh } = await heldRefresh({ leaseRenewMs: 5 });
    const second = await reregisterAsB();

    // Act: the worker's next renewal comes after the re-registration; then Zoom's answer arrives.
    const renewal = world.storePauses.pauseAt(
      (event: StoreEvent) => event.op === 'update' && event.actor === 'worker' && event.update?.lease != null,
    );
    await renewal.reached.promise;
    renewal.release();
    await settle();
    const leaseAfterRenewal = world.store.peek('alice')!.lease;
    answer.release();
    const outcome = await refresh;

    // Assess
    expect(leaseAfterRenewal).toBeUndefined();
    expect(outcome.kind).toBe('superseded');
    const { user, tokens } = await world.stored('alice');
    expect(user.registrationId).toBe(second.user.registrationId);
    expect(tokens).toEqual(second.grant.tokens);
    const served = await serveAccessToken('alice', world.serveDeps('callback'), {
      deadline: world.clock.now() + 4_000,
      registrationId: second.user.registrationId,
    });
    expect(zoomUserOf(served.accessToken)).toBe('zoom-b');
  });

  test("the worker's lease release after a Zoom failure leaves the new registration untouched", async () => {
    // Prepare: Zoom answers the old registration's refresh with a 503 (nothing spent), but only
    // once the new registration is there.
    world.recall.zoomUsers.set('alice', 'zoom-a');
    await world.seedUser('alice', 200);
    const zoomAnswer = deferred<ZoomRefreshResult>();
    const zoom: ZoomTokenClient = { ready: async () => undefined, refresh: () => zoomAnswer.promise };
    const refresh = refreshUser('alice', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('worker', { zoom }));
    await settle();
    const second = await reregisterAsB();
    const before = world.store.peek('alice')!;

    // Act
    zoomAnswer.resolve({ kind: 'retryable', status: 503, error: 'http_503' });
    const outcome = await refresh;

    // Assess: the old worker's release wrote nothing on the new record.
    expect(outcome.kind).toBe('retryable');
    const after = world.store.peek('alice')!;
    expect(after.registrationId).toBe(second.user.registrationId);
    expect(after).toEqual(before);
  });
});

describe('finding 2: a late or replayed app_deauthorized', () => {
  const deauthorize = (zoomUserId: string, deauthorizedAt: number) =>
    deauthorizeZoomUser(
      { zoomUserId, deauthorizedAt },
      { store: world.store.withActor('zoom-events'), recall: world.recall, clock: world.clock.clock, logger: world.log },
    );

  test('a redelivery after the user authorized again and the backend PUT the new grant changes nothing', async () => {
    // Prepare: registered; the user removes the app (the event is handled); authorizes again; PUT.
    await register('u1', 'zoom-u1');
    world.clock.advance(60_000);
    const removedAt = world.clock.now();
    world.zoom.revoke('zoom-u1');
    expect(await deauthorize('zoom-u1', removedAt)).toHaveLength(1);
    world.clock.advance(60_000);
    const { grant } = await register('u1', 'zoom-u1');
    const registered = world.store.peek('u1')!;

    // Act: Zoom redelivers the same event (or the signed request is replayed).
    world.clock.advance(10_000);
    const redelivered = await deauthorize('zoom-u1', removedAt);

    // Assess
    expect(redelivered).toEqual([]);
    const { user, tokens } = await world.stored('u1');
    expect(user).toEqual(registered);
    expect(tokens).toEqual(grant.tokens);
    expect(world.recall.list()).toHaveLength(1);
  });

  test('a first delivery that arrives after the new grant was PUT leaves the new grant alone', async () => {
    // Prepare: registered; the user removes the app and authorizes again before Zoom's event arrives.
    await register('u1', 'zoom-u1');
    world.clock.advance(60_000);
    const removedAt = world.clock.now();
    world.clock.advance(30_000);
    const { grant } = await register('u1', 'zoom-u1');

    // Act
    world.clock.advance(30_000);
    const late = await deauthorize('zoom-u1', removedAt);

    // Assess
    expect(late).toEqual([]);
    const { user, tokens } = await world.stored('u1');
    expect(user.status).toBe('active');
    expect(tokens).toEqual(grant.tokens);
    expect(user.recall.status).toBe('registered');
  });
});

describe('finding 3: a write that landed but whose answer was lost (the SDK re-sends it and meets its own condition)', () => {
  /** A store view whose writes matching `lose` land and then answer ConflictError, as the SDK's re-send would. */
  function losingAnswers(inner: TokenStore, lose: { update?: (update: object) => boolean; create?: boolean }) {
    const lost: string[] = [];
    const store: TokenStore = {
      ...inner,
      async update(userId, condition, update) {
        const written = await inner.update(userId, condition, update);
        if (lose.update?.(update)) {
          lost.push('update');
          lose.update = undefined;
          throw new ConflictError('stored item changed');
        }
        return written;
      },
      async create(user) {
        await inner.create(user);
        if (lose.create) {
          lost.push('create');
          lose.create = false;
          throw new ConflictError('user already exists');
        }
      },
    };
    return { store, lost };
  }

  test('the refresh save is counted as refreshed, not discarded as superseded', async () => {
    // Prepare
    await register('u1', 'zoom-u1', 200);
    const { store, lost } = losingAnswers(world.store.withActor('worker'), { update: (update) => 'sealed' in update });
    const observed: string[] = [];

    // Act
    const outcome = await refreshUser(
      'u1',
      world.clock.now() + SERVE_MARGIN_MS,
      world.refreshDeps('worker', { store, observe: (kind) => observed.push(kind) }),
    );

    // Assess
    expect(lost).toEqual(['update']);
    expect(outcome.kind).toBe('refreshed');
    expect(observed).toEqual(['refreshed']);
    expect(world.log.messages('warn')).not.toContain('refreshed tokens superseded by a newer registration; discarded');
    const { user, tokens } = await world.stored('u1');
    expect(user.tokenGeneration).toBe(2);
    expect(tokens.refreshToken).toBe(world.zoom.currentRefreshToken('zoom-u1'));
  });

  test('a PUT that created the user answers created, with its User Registered event', async () => {
    // Prepare
    const events: LifecycleEvent[] = [];
    const { store, lost } = losingAnswers(world.store.withActor('admin'), { create: true });
    world.recall.zoomUsers.set('u1', 'zoom-u1');
    const grant = world.zoom.authorize('zoom-u1', 3600);

    // Act
    const result = await registerUser(
      'u1',
      { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
      { ...world.registrationDeps(), store, events: collector(events) },
    );

    // Assess
    expect(lost).toEqual(['create']);
    expect(result.created).toBe(true);
    expect(events.map((event) => [event.detailType, event.detail.reason])).toEqual([['User Registered', 'created']]);
    expect(world.recall.list()).toHaveLength(1);
  });

  test('a PUT of a new grant over a stored user is stored once, with its User Registered event', async () => {
    // Prepare
    await register('u1', 'zoom-u1');
    const events: LifecycleEvent[] = [];
    const { store, lost } = losingAnswers(world.store.withActor('admin'), { update: (update) => 'sealed' in update });
    const grant = world.zoom.authorize('zoom-u1', 3600);

    // Act
    const result = await registerUser(
      'u1',
      { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
      { ...world.registrationDeps(), store, events: collector(events) },
    );

    // Assess
    expect(lost).toEqual(['update']);
    expect(result.created).toBe(false);
    expect(events.map((event) => [event.detailType, event.detail.reason])).toEqual([['User Registered', 'new_tokens']]);
    expect((await world.stored('u1')).tokens).toEqual(grant.tokens);
  });
});

describe('finding 6: a lease write that landed after an earlier conflict', () => {
  test('is recognised as ours although the generation moved between the first read and the write', async () => {
    // Prepare: A's first lease write loses to a PUT of a new (near-expiry) grant; its second lands
    // and its answer is lost, so the SDK's re-send meets a conflict.
    await register('u1', 'zoom-u1', 200);
    const inner = world.store.withActor('A');
    let phase = 0;
    const store: TokenStore = {
      ...inner,
      async update(userId, condition, update) {
        if (update.lease && phase === 0) {
          phase = 1;
          await register('u1', 'zoom-u1', 200);
          return inner.update(userId, condition, update);
        }
        const written = await inner.update(userId, condition, update);
        if (update.lease && phase === 1) {
          phase = 2;
          throw new ConflictError('stored item changed');
        }
        return written;
      },
    };

    // Act
    const outcome = await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('A', { store }));

    // Assess
    expect(phase).toBe(2);
    expect(outcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
  });
});

describe("finding 6: a gateway's 502/504 from Zoom's token endpoint", () => {
  test('may mean Zoom refreshed: the next invalid_grant is a refresh lost in flight, not a revocation', async () => {
    // Prepare: the real client against an endpoint whose gateway answers 504 after Zoom spent the
    // token; every later request with that token is invalid_grant.
    await register('u1', 'zoom-u1', 200);
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.url ?? '');
        const first = seen.length === 1;
        res.writeHead(first ? 504 : 400, { 'content-type': first ? 'text/html' : 'application/json' });
        res.end(first ? '<html>504 Gateway Time-out</html>' : JSON.stringify({ reason: 'Invalid Token!', error: 'invalid_grant' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`;
    const zoom = createZoomTokenClient({ tokenUrl, clientId: 'id', clientSecret: () => 'secret' });
    const attempt = () => refreshRequestedUser('u1', world.refreshDeps('worker', { zoom }), { windowMs: SERVE_MARGIN_MS });

    try {
      // Act: a worker meets the 504; later ones come once the first worker cannot be alive.
      const first = await attempt();
      world.clock.advance(31_000 + TIMING.workerTimeoutMs);
      const later = await attempt();

      // Assess
      expect(first.kind).toBe('answer_lost');
      expect(later.kind).toBe('lost_in_flight');
      expect(world.store.peek('u1')).toMatchObject({ status: 'reauth_required', reauthRequired: { code: 'lost_in_flight' } });
      expect(seen).toHaveLength(2);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("finding 6: Zoom's client secret", () => {
  test("is read before the lease, and Zoom's wait is counted from after it", async () => {
    // Prepare: the secret read takes 3 s (a cold cache).
    await register('u1', 'zoom-u1', 200);
    const start = world.clock.now();
    const deadline = start + 60_000;
    world.zoom.readyGate = async () => void world.clock.advance(3_000);
    const leaseWrite = world.storePauses.pauseAt((event) => event.op === 'update' && event.update?.lease != null);

    // Act
    const refresh = refreshUser('u1', start + SERVE_MARGIN_MS, world.refreshDeps('worker', { deadline }));
    await leaseWrite.reached.promise;
    const readyBeforeLease = world.zoom.readyCalls;
    leaseWrite.release();
    const outcome = await refresh;

    // Assess
    expect(readyBeforeLease).toBe(1);
    expect(outcome.kind).toBe('refreshed');
    expect(world.zoom.calls.map((call) => call.timeoutMs)).toEqual([deadline - TIMING.saveReserveMs - (start + 3_000)]);
  });

  test('that cannot be read stops the refresh before the lease: nothing sent, nothing written', async () => {
    // Prepare
    await register('u1', 'zoom-u1', 200);
    world.zoom.readyGate = async () => {
      throw new Error('Zoom client secret unavailable');
    };
    const writesBefore = world.store.writes.length;

    // Act
    const attempt = refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('worker'));

    // Assess
    await expect(attempt).rejects.toThrow('Zoom client secret unavailable');
    expect(world.zoom.stats.refreshCalls).toBe(0);
    expect(world.store.writes.slice(writesBefore)).toEqual([]);
  });
});

describe("finding 5: a sealed pair opens only on its own record's registration and generation", () => {
  test('an older pair of the same user, written back onto the record, is refused', async () => {
    // Prepare: registered, then refreshed; the first pair is written back (someone with write
    // access to the table, or a restored backup item).
    const { user: registered } = await register('u1', 'zoom-u1', 200);
    const older = world.store.peek('u1')!.sealed;
    expect((await refreshUser('u1', world.clock.now() + SERVE_MARGIN_MS, world.refreshDeps('worker'))).kind).toBe('refreshed');
    await world.store.update('u1', { registrationId: registered.registrationId }, { sealed: older });

    // Act
    const served = serveAccessToken('u1', world.serveDeps('callback'), { deadline: world.clock.now() + 4_000 });

    // Assess
    await expect(served).rejects.toBeInstanceOf(UnreadableRecordError);
  });

  test("a deleted registration's pair, written onto the user's new registration, is refused", async () => {
    // Prepare
    await register('u1', 'zoom-a');
    const deleted = world.store.peek('u1')!.sealed;
    await deleteUser('u1', world.registrationDeps());
    const { user: current } = await register('u1', 'zoom-b');
    await world.store.update('u1', { registrationId: current.registrationId }, { sealed: deleted });

    // Act
    const served = serveAccessToken('u1', world.serveDeps('callback'), {
      deadline: world.clock.now() + 4_000,
      registrationId: current.registrationId,
    });

    // Assess
    await expect(served).rejects.toBeInstanceOf(UnreadableRecordError);
  });
});

describe("Recall's error detail after a PUT", () => {
  test('carries neither token the PUT submitted: not in the thrown error, not in the recorded Recall failure', async () => {
    // Prepare: the real Recall client against an endpoint that echoes the tokens it fetched.
    world.recall.zoomUsers.set('u1', 'zoom-u1');
    const grant = world.zoom.authorize('zoom-u1', 3600);
    const { accessToken, refreshToken } = grant.tokens;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ detail: `The token ${accessToken} (refresh ${refreshToken}) was rejected by Zoom.` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const recall = createRecallClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      apiKey: () => 'recall-key',
    });

    try {
      // Act
      const error = await registerUser(
        'u1',
        { tokens: grant.tokens, accessTokenExpiresAt: grant.accessTokenExpiresAt },
        { ...world.registrationDeps(), recall },
      ).catch((caught: unknown) => caught);

      // Assess
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).detail).toBe('The token [redacted] (refresh [redacted]) was rejected by Zoom.');
      const recorded = JSON.stringify(world.store.peek('u1')!.recall);
      expect(recorded).toContain('[redacted]');
      for (const token of [accessToken, refreshToken]) {
        expect(inspect(error)).not.toContain(token);
        expect(recorded).not.toContain(token);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('finding 2: a deauthorization racing the PUT of a new grant', () => {
  test("the PUT lands between the event's read and its Recall step: the new grant keeps a working Recall credential", async () => {
    // Prepare: registered; the user removed the app at Zoom at `removedAt`; the event handler
    // has read the record (old grant) and is about to touch Recall when the new grant's PUT runs.
    await register('u1', 'zoom-u1');
    const credentialId = world.store.peek('u1')!.recall.credentialId!;
    world.clock.advance(60_000);
    const removedAt = world.clock.now();
    world.clock.advance(1_000);
    const recallPauses = new Pauses<RecallCall>();
    world.recall.gate = recallPauses.hook;
    const atRecall = recallPauses.pauseAt((call) => call.method === 'delete');
    const storeAtDeauthorization = world.storePauses.pauseAt((event) => event.actor === 'zoom-events' && event.op === 'update');
    const deauthorization = deauthorizeZoomUser(
      { zoomUserId: 'zoom-u1', deauthorizedAt: removedAt },
      { store: world.store.withActor('zoom-events'), recall: world.recall, clock: world.clock.clock, logger: world.log },
    );
    const first = await Promise.race([atRecall.reached.promise, storeAtDeauthorization.reached.promise]);

    // Act: the new grant's PUT, start to end; then the handler goes on.
    world.recall.gate = undefined;
    const { grant } = await register('u1', 'zoom-u1');
    world.recall.gate = recallPauses.hook;
    atRecall.release();
    storeAtDeauthorization.release();
    await deauthorization;

    // Assess: active with the new grant, and the credential it names is one Recall has, calling its URL.
    expect(first).toBeDefined();
    const { user, tokens } = await world.stored('u1');
    expect(user.status).toBe('active');
    expect(tokens).toEqual(grant.tokens);
    expect(user.recall.status).toBe('registered');
    const held = world.recall.list().find((credential) => credential.id === user.recall.credentialId);
    expect(held?.callbackUrl).toContain(`reg=${user.registrationId}`);
    expect(world.recall.list().map((credential) => credential.id)).toEqual([user.recall.credentialId]);
    expect(credentialId).toBeDefined();
  });
});
