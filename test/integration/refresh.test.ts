/**
 * Refreshing and serving tokens with the real adapters: dynalite for DynamoDB, the KMS stand-in
 * reached through @aws-sdk/client-kms, and the real Zoom client against the fake Zoom over HTTP.
 * The fake Zoom's refresh tokens are single-use, so a double refresh or a lost answer shows up as
 * invalid_grant or as a stored refresh token that Zoom no longer knows.
 *
 * Each test gets its own dynalite and fake Zoom (a dispatch reads the whole due index, and Zoom's
 * counters are asserted exactly); the KMS stand-in and the cipher are shared. Serving never calls
 * Zoom: it hands refreshes to a queue, here an in-process one whose workers run
 * refreshRequestedUser (the refresh worker's domain part).
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore, toUser } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import { TIMING } from '../../functions/domain/timing';
import { TokenUnavailableError } from '../../functions/domain/errors';
import { dispatchDueUsers } from '../../functions/domain/dispatch';
import type {
  Log,
  RefreshQueue,
  RefreshRequest,
  SigningKeyProvider,
  TokenCipher,
  TokenStore,
  ZoomRefreshResult,
  ZoomTokenClient,
} from '../../functions/domain/ports';
import { refreshUser, type RefreshDeps, type RefreshOutcome } from '../../functions/domain/refresh';
import { refreshRequestedUser } from '../../functions/domain/refresh-work';
import { deleteUser, registerUser, type RegistrationDeps } from '../../functions/domain/registration';
import { serveAccessToken, type ServeDeps } from '../../functions/domain/serve-token';
import { refreshTokenFingerprint, type StoredUser, type TokenPair, sealedTokensOf } from '../../functions/domain/token-record';
import { startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';
import { DEFAULT_FAKE_ZOOM_CLIENT_ID, DEFAULT_FAKE_ZOOM_CLIENT_SECRET, startFakeZoom, type FakeZoom } from '../../local/fakes/fake-zoom';
import { DEFAULT_KEY_ID, startKmsServer, type KmsServer } from '../../local/kms/kms-server';

const WINDOW_MS = 900_000;
const SERVE_MARGIN_MS = 300_000;

interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>[];
}

/** A logger that prints nothing and keeps every line for assertions. */
function recordingLogger(lines: LogLine[]): Log {
  const at =
    (level: LogLine['level']) =>
    (message: string, ...attributes: Record<string, unknown>[]) => {
      lines.push({ level, message, attributes });
    };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

/** A promise with its resolve function outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A Zoom client whose call reaches Zoom at once but whose answer waits for `release`. */
function answerHeldBack(zoom: ZoomTokenClient) {
  const answered = deferred();
  const release = deferred();
  const client: ZoomTokenClient = {
    ready: () => zoom.ready(),
    async refresh(refreshToken, options) {
      const result = await zoom.refresh(refreshToken, options);
      answered.resolve();
      await release.promise;
      return result;
    },
  };
  return { client, answered, release };
}

/** A Zoom client that tells which refresh token it was given, then waits for `release` before calling Zoom. */
function heldBeforeZoom(zoom: ZoomTokenClient) {
  const atZoom = deferred<string>();
  const release = deferred();
  const client: ZoomTokenClient = {
    ready: () => zoom.ready(),
    async refresh(refreshToken, options) {
      atZoom.resolve(refreshToken);
      await release.promise;
      return zoom.refresh(refreshToken, options);
    },
  };
  return { client, atZoom, release };
}

/** Runs `task` over `items` with at most `concurrency` at a time. */
async function inPool<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

/** `store` with some of its operations replaced, for failures injected around the real one. */
function storeWith(store: TokenStore, overrides: Partial<TokenStore>): TokenStore {
  return {
    get: (userId, options) => store.get(userId, options),
    create: (user) => store.create(user),
    update: (userId, condition, update) => store.update(userId, condition, update),
    delete: (userId, condition) => store.delete(userId, condition),
    listWhere: (field, value, page) => store.listWhere(field, value, page),
    findByZoomUser: (zoomUserId) => store.findByZoomUser(zoomUserId),
    listDue: (dueBefore) => store.listDue(dueBefore),
    ...overrides,
  };
}

/**
 * The refresh queue and its workers, in process: each request runs refreshRequestedUser at once,
 * unawaited; while `paused`, requests are only recorded (`runPaused` works them off later).
 */
class WorkerQueue implements RefreshQueue {
  readonly requests: RefreshRequest[] = [];
  readonly outcomes: Array<RefreshOutcome['kind'] | 'error'> = [];
  paused = false;
  private readonly running: Promise<unknown>[] = [];
  private pending: string[] = [];

  constructor(private readonly workerDeps: () => RefreshDeps) {}

  async enqueue(requests: RefreshRequest[]): Promise<void> {
    for (const request of requests) {
      this.requests.push(request);
      if (this.paused) this.pending.push(request.userId);
      else this.running.push(this.work(request.userId));
    }
  }

  private work(userId: string): Promise<void> {
    return refreshRequestedUser(userId, this.workerDeps(), { windowMs: WINDOW_MS }).then(
      (outcome) => void this.outcomes.push(outcome.kind),
      () => void this.outcomes.push('error'),
    );
  }

  /** Works off the requests recorded while paused, `concurrency` at a time. */
  async runPaused(concurrency: number): Promise<void> {
    const userIds = this.pending.splice(0);
    await inPool(userIds, concurrency, (userId) => this.work(userId));
  }

  async drain(): Promise<void> {
    while (this.running.length > 0) await Promise.all(this.running.splice(0));
  }

  count(kind: RefreshOutcome['kind'] | 'error'): number {
    return this.outcomes.filter((outcome) => outcome === kind).length;
  }
}

function throughputError(): Error {
  const error = new Error('The level of configured provisioned throughput for the table was exceeded.');
  error.name = 'ProvisionedThroughputExceededException';
  return error;
}

describe('refreshing tokens with the real adapters', () => {
  let kmsServer: KmsServer;
  let kms: KMSClient;
  let cipher: KmsEnvelopeCipher;

  let dynalite: Dynalite;
  let dynamoClient: DynamoDBClient;
  let store: DynamoTokenStore;
  let fakeZoom: FakeZoom;
  let zoom: ZoomTokenClient;
  let logLines: LogLine[];
  let queue: WorkerQueue;
  /** The domain's clock: real time plus an offset a test may move forward. */
  let offsetMs: number;
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    kmsServer = await startKmsServer();
    kms = new KMSClient({
      endpoint: kmsServer.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    cipher = new KmsEnvelopeCipher({ kms, keyId: kmsServer.keyArn(DEFAULT_KEY_ID) });
  });

  afterAll(async () => {
    kms.destroy();
    await kmsServer.close();
  });

  beforeEach(async () => {
    offsetMs = 0;
    logLines = [];
    dynalite = await startDynalite();
    dynamoClient = dynalite.client();
    store = new DynamoTokenStore({ client: dynamoClient, tableName: TABLE_NAME });
    fakeZoom = await startFakeZoom();
    zoom = createZoomTokenClient({
      tokenUrl: fakeZoom.tokenUrl,
      clientId: DEFAULT_FAKE_ZOOM_CLIENT_ID,
      clientSecret: () => DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
    });
    // A worker's invocation: a minute.
    queue = new WorkerQueue(() => deps({ deadline: clock() + 60_000 }));
  });

  afterEach(async () => {
    await queue.drain();
    await fakeZoom.close();
    dynamoClient.destroy();
    await dynalite.close();
  });

  function deps(overrides: Partial<RefreshDeps> = {}): RefreshDeps {
    return { store, cipher, zoom, clock, logger: recordingLogger(logLines), ...overrides };
  }

  function serveDeps(overrides: Partial<ServeDeps> = {}): ServeDeps {
    return { store, cipher, refreshQueue: queue, clock, logger: recordingLogger(logLines), ...overrides };
  }

  /** One dispatcher run into the worker queue, and the workers' work on it. */
  async function dispatchAndWork(options: { maxUsers?: number } = {}) {
    const summary = await dispatchDueUsers(
      { store, refreshQueue: queue, clock, logger: recordingLogger(logLines) },
      { windowMs: WINDOW_MS, maxUsers: options.maxUsers ?? 1000, deadline: clock() + 60_000 },
    );
    await queue.drain();
    return summary;
  }

  /** A user who has just completed Zoom's OAuth flow, stored the way registration stores it. */
  async function seedUser(userId: string, zoomUserId: string, expiresInSeconds: number): Promise<{ tokens: TokenPair; user: StoredUser }> {
    const grant = fakeZoom.authorize(zoomUserId, { expiresInSeconds });
    const tokens: TokenPair = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
    const now = clock();
    const user: StoredUser = {
      userId,
      registrationId: `registration-${userId}`,
      version: 1,
      status: 'active',
      sealed: await cipher.seal({ userId, registrationId: `registration-${userId}`, tokenGeneration: 1 }, tokens),
      accessTokenExpiresAt: now + expiresInSeconds * 1000,
      tokenGeneration: 1,
      createdAt: now,
      updatedAt: now,
      recall: { status: 'registered', credentialId: `cred-${userId}` },
    };
    await store.create(user);
    return { tokens, user };
  }

  async function stored(userId: string): Promise<{ user: StoredUser; tokens: TokenPair }> {
    const user = await store.get(userId, { consistent: true });
    if (!user) throw new Error(`no stored user ${userId}`);
    return { user, tokens: await cipher.open(user, sealedTokensOf(user)) };
  }

  async function dueUserIds(windowMs: number): Promise<string[]> {
    const ids: string[] = [];
    for await (const due of store.listDue(clock() + windowMs)) ids.push(due.userId);
    return ids.sort();
  }

  test('50 concurrent serves and a dispatch on a token below the serve floor: one Zoom refresh, one new token for all', async () => {
    // Prepare: 100 s left, below the 150 s floor: every serve must wait for the refresh.
    const { tokens: original } = await seedUser('user-race', 'zoom-race', 100);
    const deadline = clock() + 4_000;

    // Act
    const [served, summary] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, () => serveAccessToken('user-race', serveDeps(), { deadline, pollIntervalMs: 20 }))),
      dispatchDueUsers(
        { store, refreshQueue: queue, clock, logger: recordingLogger(logLines) },
        { windowMs: WINDOW_MS, maxUsers: 100, deadline: clock() + 60_000 },
      ),
    ]);
    await queue.drain();

    // Assess
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const accessTokens = new Set(served.map((token) => token.accessToken));
    expect(accessTokens.size).toBe(1);
    const [accessToken] = accessTokens;
    expect(accessToken).not.toBe(original.accessToken);
    const verified = fakeZoom.verifyAccessToken(accessToken);
    expect(verified?.zoomUserId).toBe('zoom-race');
    expect(verified!.expiresAt - Date.now()).toBeGreaterThanOrEqual(120_000);

    const { user, tokens } = await stored('user-race');
    expect(tokens.accessToken).toBe(accessToken);
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-race'));
    expect(tokens.refreshToken).not.toBe(original.refreshToken);
    expect(user.tokenGeneration).toBe(2);
    expect(user.lease).toBeUndefined();
    expect(user.status).toBe('active');
    expect(user.lastRefreshAt).toBeDefined();
    expect(new Set(served.map((token) => token.expiresAt))).toEqual(new Set([user.accessTokenExpiresAt]));

    expect(summary).toMatchObject({ due: 1, dispatched: 1, deferred: 0 });
    // Serves that read the item after the refresh landed asked for none.
    expect(queue.requests.length).toBeGreaterThanOrEqual(2);
    expect(queue.count('refreshed')).toBe(1);
    expect(queue.count('refreshed') + queue.count('lease_held') + queue.count('fresh')).toBe(queue.requests.length);
    expect(logLines.filter((line) => line.message === 'token refreshed')).toHaveLength(1);
    expect(logLines.filter((line) => line.level === 'error')).toEqual([]);
  });

  test('a lease whose holder died blocks refreshes until it expires, then one refresh takes over', async () => {
    // Prepare: a worker took the lease and died before calling Zoom.
    const { tokens: original } = await seedUser('user-dead-lease', 'zoom-dead-lease', 200);
    await store.update(
      'user-dead-lease',
      { registrationId: 'registration-user-dead-lease', version: 1 },
      { lease: { owner: 'dead-worker', expiresAt: clock() + 30_000 } },
    );

    // Act: before the lease expires
    queue.paused = true;
    const blocked = await refreshUser('user-dead-lease', clock() + SERVE_MARGIN_MS, deps());
    const servedMeanwhile = await serveAccessToken('user-dead-lease', serveDeps(), { deadline: clock() + 200, pollIntervalMs: 50 });

    // Assess
    expect(blocked.kind).toBe('lease_held');
    expect(fakeZoom.stats().refreshCalls).toBe(0);
    // The stored token still has more than 150 s: served at once, a refresh asked for.
    expect(servedMeanwhile.accessToken).toBe(original.accessToken);
    expect(queue.requests).toEqual([{ userId: 'user-dead-lease', reason: 'serve' }]);

    // Act: after the lease expired
    offsetMs += 31_000;
    const takeover = await refreshUser('user-dead-lease', clock() + SERVE_MARGIN_MS, deps());

    // Assess
    expect(takeover.kind).toBe('refreshed');
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await stored('user-dead-lease');
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-dead-lease'));
    expect(tokens.accessToken).toBe(takeover.kind === 'refreshed' ? takeover.tokens.accessToken : undefined);
    expect(fakeZoom.verifyAccessToken(tokens.accessToken)?.zoomUserId).toBe('zoom-dead-lease');
    expect(user.tokenGeneration).toBe(2);
    expect(user.lease).toBeUndefined();
  });

  describe('a slow refresher whose lease expired while Zoom answered', () => {
    test("still stores its pair; the worker that took over gets invalid_grant, re-reads and finds the winner's token", async () => {
      // Prepare: A's Zoom call succeeds at Zoom, but its answer is held back.
      const { tokens: original } = await seedUser('user-slow', 'zoom-slow', 200);
      const { client: slowZoom, answered: aAnswered, release: releaseA } = answerHeldBack(zoom);
      const { client: gatedZoom, atZoom: bAtZoom, release: releaseB } = heldBeforeZoom(zoom);

      // Act: A refreshes; its lease expires (unrenewed) before its answer comes back; B takes over.
      const a = refreshUser('user-slow', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
      await aAnswered.promise;
      offsetMs += 31_000;
      const b = refreshUser('user-slow', clock() + SERVE_MARGIN_MS, deps({ zoom: gatedZoom }));
      const consumedByB = await bAtZoom.promise;
      const duringTakeover = await stored('user-slow');
      releaseA.resolve();
      const aOutcome = await a;
      releaseB.resolve();
      const bOutcome = await b;
      const bServed = await serveAccessToken('user-slow', serveDeps(), { deadline: clock() + 1_000 });

      // Assess
      expect(consumedByB).toBe(original.refreshToken);
      expect(duringTakeover.user.lease?.expiresAt).toBeGreaterThan(clock());
      expect(aOutcome.kind).toBe('refreshed');
      expect(bOutcome.kind).toBe('fresh');
      const winner = aOutcome.kind === 'refreshed' ? aOutcome.tokens : undefined;
      expect(bServed.accessToken).toBe(winner?.accessToken);
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
      const { user, tokens } = await stored('user-slow');
      expect(user.status).toBe('active');
      expect(user.reauthRequired).toBeUndefined();
      expect(user.tokenGeneration).toBe(2);
      expect(user.lease).toBeUndefined();
      expect(tokens.refreshToken).toBe(winner?.refreshToken);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-slow'));
    });

    test('the worker that took over refreshes first; the slow one gets invalid_grant and finds the pair fresh', async () => {
      // Prepare: A takes the lease but is slow to reach Zoom.
      const { tokens: original } = await seedUser('user-slow-send', 'zoom-slow-send', 200);
      const { client: slowZoom, atZoom: aAtZoom, release: releaseA } = heldBeforeZoom(zoom);

      // Act
      const a = refreshUser('user-slow-send', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
      const consumedByA = await aAtZoom.promise;
      offsetMs += 31_000;
      const bOutcome = await refreshUser('user-slow-send', clock() + SERVE_MARGIN_MS, deps());
      releaseA.resolve();
      const aOutcome = await a;

      // Assess
      expect(consumedByA).toBe(original.refreshToken);
      expect(bOutcome.kind).toBe('refreshed');
      expect(aOutcome.kind).toBe('fresh');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
      const { user, tokens } = await stored('user-slow-send');
      expect(user.status).toBe('active');
      expect(user.tokenGeneration).toBe(2);
      expect(user.lease).toBeUndefined();
      expect(tokens.refreshToken).toBe(bOutcome.kind === 'refreshed' ? bOutcome.tokens.refreshToken : undefined);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-slow-send'));
      expect(aOutcome.kind === 'fresh' && aOutcome.user.tokenGeneration).toBe(2);
    });

    test('the worker that took over hears invalid_grant before the slow one stored its pair: no verdict while the holder may live; its pair lands', async () => {
      // Prepare: A's refresh succeeds at Zoom and its answer is held back until B has finished.
      const { tokens: original } = await seedUser('user-slow-store', 'zoom-slow-store', 200);
      const { client: slowZoom, answered: aAnswered, release: releaseA } = answerHeldBack(zoom);

      // Act
      const a = refreshUser('user-slow-store', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
      await aAnswered.promise;
      offsetMs += 31_000;
      const bOutcome = await refreshUser('user-slow-store', clock() + SERVE_MARGIN_MS, deps());
      const afterB = await stored('user-slow-store');
      releaseA.resolve();
      const aOutcome = await a;

      // Assess: B took over a lease left behind by a holder that may still be running (a worker
      // lives up to its timeout): no verdict. A's pair, written on the generation it consumed, lands.
      expect(bOutcome).toEqual({ kind: 'retryable', error: 'invalid_grant_unconfirmed' });
      expect(afterB.user).toMatchObject({ status: 'active', lastError: { code: 'zoom_invalid_grant_unconfirmed' } });
      expect(afterB.tokens.refreshToken).toBe(original.refreshToken);
      expect(aOutcome.kind).toBe('refreshed');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
      const { user, tokens } = await stored('user-slow-store');
      expect(user.status).toBe('active');
      expect(user.reauthRequired).toBeUndefined();
      expect(user.tokenGeneration).toBe(2);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-slow-store'));
      expect(await dueUserIds(24 * 3600_000)).toEqual(['user-slow-store']);
    });

    test('a holder that died leaving its lease, then invalid_grant (here: revoked): lost_in_flight once the holder cannot be alive, the user out of the index', async () => {
      // Prepare: the lease holder died; meanwhile the user revoked the app. Whether the holder
      // spent the token or the user revoked it, the grant is gone either way.
      await seedUser('user-dead-and-revoked', 'zoom-dead-and-revoked', 200);
      await store.update(
        'user-dead-and-revoked',
        { registrationId: 'registration-user-dead-and-revoked', version: 1 },
        { lease: { owner: 'dead-worker', expiresAt: clock() + 30_000 } },
      );
      fakeZoom.revoke('zoom-dead-and-revoked');
      offsetMs += 31_000 + TIMING.workerTimeoutMs;

      // Act
      const takeover = await refreshUser('user-dead-and-revoked', clock() + SERVE_MARGIN_MS, deps());
      const next = await refreshUser('user-dead-and-revoked', clock() + SERVE_MARGIN_MS, deps());

      // Assess
      expect(takeover.kind).toBe('lost_in_flight');
      expect(next.kind).toBe('grant_dead');
      const { user } = await stored('user-dead-and-revoked');
      expect(user.status).toBe('reauth_required');
      expect(user.reauthRequired).toMatchObject({ code: 'lost_in_flight' });
      expect(user.lease).toBeUndefined();
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 0, invalidGrant: 1 });
      expect(await dueUserIds(24 * 3600_000)).toEqual([]);
    });

    test("a holder killed after Zoom spent the token, before its write: the next worker's invalid_grant is lost_in_flight", async () => {
      // Prepare: the holder's refresh reached Zoom (the token is spent there), then the holder died
      // with its lease on the item.
      const { tokens: original } = await seedUser('user-killed', 'zoom-killed', 200);
      await store.update(
        'user-killed',
        { registrationId: 'registration-user-killed', version: 1 },
        { lease: { owner: 'killed-worker', expiresAt: clock() + 30_000 } },
      );
      const spent = await zoom.refresh(original.refreshToken);
      offsetMs += 31_000 + TIMING.workerTimeoutMs;
      const observed: string[] = [];

      // Act
      const outcome = await refreshUser('user-killed', clock() + SERVE_MARGIN_MS, deps({ observe: (kind) => observed.push(kind) }));

      // Assess
      expect(spent.kind).toBe('ok');
      expect(outcome.kind).toBe('lost_in_flight');
      expect(observed).toEqual(['lost_in_flight']);
      const { user } = await stored('user-killed');
      expect(user).toMatchObject({ status: 'reauth_required', tokenGeneration: 1, reauthRequired: { code: 'lost_in_flight' } });
      expect(user.lease).toBeUndefined();
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
      expect(await dueUserIds(24 * 3600_000)).toEqual([]);
    });

    test('a slow refresher that fails does not end the lease of the worker that took over', async () => {
      // Prepare: A's Zoom call fails (503), but only after A's lease expired and B took it over.
      await seedUser('user-slow-fail', 'zoom-slow-fail', 200);
      fakeZoom.failNext(1, { status: 503 });
      const { client: slowZoom, answered: aAnswered, release: releaseA } = answerHeldBack(zoom);
      const { client: gatedZoom, atZoom: bAtZoom, release: releaseB } = heldBeforeZoom(zoom);

      // Act
      const a = refreshUser('user-slow-fail', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
      await aAnswered.promise;
      offsetMs += 31_000;
      const b = refreshUser('user-slow-fail', clock() + SERVE_MARGIN_MS, deps({ zoom: gatedZoom }));
      await bAtZoom.promise;
      const bLease = (await stored('user-slow-fail')).user.lease;
      releaseA.resolve();
      const aOutcome = await a;
      const afterA = (await stored('user-slow-fail')).user;
      const third = await refreshUser('user-slow-fail', clock() + SERVE_MARGIN_MS, deps());
      releaseB.resolve();
      const bOutcome = await b;

      // Assess
      expect(aOutcome.kind).toBe('retryable');
      expect(bLease).toBeDefined();
      expect(afterA.lease).toEqual(bLease);
      expect(third.kind).toBe('lease_held');
      expect(bOutcome.kind).toBe('refreshed');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      const { user, tokens } = await stored('user-slow-fail');
      expect(user.tokenGeneration).toBe(2);
      expect(user.lease).toBeUndefined();
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-slow-fail'));
    });
  });

  test('a dispatch over 5 due users, one of whom revoked the app: 4 refreshed, 1 grant dead and out of the index', async () => {
    // Prepare
    const ids = [1, 2, 3, 4, 5].map((n) => `user-sweep-${n}`);
    for (const [index, userId] of ids.entries()) await seedUser(userId, `zoom-sweep-${index + 1}`, 200);
    fakeZoom.revoke('zoom-sweep-3');

    // Act
    const summary = await dispatchAndWork();

    // Assess
    expect(summary).toMatchObject({ due: 5, dispatched: 5, deferred: 0 });
    expect([...queue.outcomes].sort()).toEqual(['grant_dead', 'refreshed', 'refreshed', 'refreshed', 'refreshed']);
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 5, refreshOk: 4, invalidGrant: 1 });
    const dead = (await stored('user-sweep-3')).user;
    expect(dead.status).toBe('reauth_required');
    expect(dead.reauthRequired).toMatchObject({ code: 'invalid_grant', message: 'Token has been revoked' });
    expect(dead.lastError).toMatchObject({ code: 'invalid_grant', message: 'Token has been revoked' });
    expect(dead.lease).toBeUndefined();
    expect(dead.tokenGeneration).toBe(1);
    expect(await dueUserIds(24 * 3600_000)).toEqual(['user-sweep-1', 'user-sweep-2', 'user-sweep-4', 'user-sweep-5']);
    for (const [index, userId] of ids.entries()) {
      if (userId === 'user-sweep-3') continue;
      const { user, tokens } = await stored(userId);
      expect(user.tokenGeneration).toBe(2);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken(`zoom-sweep-${index + 1}`));
    }
    const refusal = await serveAccessToken('user-sweep-3', serveDeps(), { deadline: clock() + 1_000 }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(TokenUnavailableError);
    expect((refusal as TokenUnavailableError).reason).toBe('reauth_required');
    expect(fakeZoom.stats().refreshCalls).toBe(5);
  });

  describe('retryable Zoom failures', () => {
    test('a 503 leaves the stored pair intact, releases the lease and notes the error; the next dispatch refreshes', async () => {
      // Prepare
      const { tokens: original } = await seedUser('user-503', 'zoom-503', 200);
      fakeZoom.failNext(1, { status: 503 });

      // Act
      const outcome = await refreshUser('user-503', clock() + SERVE_MARGIN_MS, deps());

      // Assess
      expect(outcome).toEqual({ kind: 'retryable', error: 'server_error', status: 503 });
      const after = await stored('user-503');
      expect(after.tokens).toEqual(original);
      expect(fakeZoom.currentRefreshToken('zoom-503')).toBe(original.refreshToken);
      expect(after.user.tokenGeneration).toBe(1);
      expect(after.user.lease).toBeUndefined();
      expect(after.user.status).toBe('active');
      expect(after.user.lastError).toMatchObject({ code: 'zoom_unavailable', message: 'server_error' });

      // Act: the next dispatch
      const summary = await dispatchAndWork();

      // Assess
      expect(summary).toMatchObject({ due: 1, dispatched: 1 });
      expect(queue.outcomes).toEqual(['refreshed']);
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      const { user, tokens } = await stored('user-503');
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-503'));
      expect(tokens.refreshToken).not.toBe(original.refreshToken);
      expect(user.tokenGeneration).toBe(2);
      expect(user.lastError).toBeUndefined();
    });

    test("a Zoom call that hangs past the invocation's wait: answer_lost, the lease left behind expired as a mark; the next worker takes over", async () => {
      // Prepare: a short invocation (the budgets shrunk to match), and a Zoom that never answers.
      const { tokens: original } = await seedUser('user-hang', 'zoom-hang', 200);
      fakeZoom.failNext(1, 'hang');
      const short = { timing: { zoomMinimumWaitMs: 100, saveReserveMs: 100 } };

      // Act
      const outcome = await refreshUser('user-hang', clock() + SERVE_MARGIN_MS, deps({ ...short, deadline: clock() + 400 }));

      // Assess: the request went out and no answer came: the token may be spent.
      expect(outcome).toEqual({ kind: 'answer_lost', error: 'timeout' });
      const after = await stored('user-hang');
      expect(after.tokens.refreshToken).toBe(original.refreshToken);
      expect(after.user.lease).toBeDefined();
      expect(after.user.lease!.expiresAt).toBeLessThanOrEqual(clock());
      expect(after.user.lastError).toMatchObject({ code: 'zoom_answer_lost', message: 'timeout' });

      // Act: the next worker (this fake never processed the hung request, so the token still works)
      const again = await refreshUser('user-hang', clock() + SERVE_MARGIN_MS, deps({ deadline: clock() + 60_000 }));

      // Assess
      expect(again.kind).toBe('refreshed');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      expect((await stored('user-hang')).tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-hang'));
    });
  });

  test('while no refresh lands, a token with 200 s left is served at once and one with 100 s left is refused at the deadline; Zoom is never called', async () => {
    // Prepare: the workers do not get to the requests.
    const { tokens: longer } = await seedUser('user-200s', 'zoom-200s', 200);
    await seedUser('user-100s', 'zoom-100s', 100);
    queue.paused = true;

    // Act
    const served = await serveAccessToken('user-200s', serveDeps(), { deadline: clock() + 1_000 });
    const refusal = await serveAccessToken('user-100s', serveDeps(), { deadline: clock() + 1_000 }).catch((error: unknown) => error);

    // Assess
    expect(served.accessToken).toBe(longer.accessToken);
    expect(served.expiresAt - clock()).toBeGreaterThanOrEqual(150_000);
    expect(fakeZoom.verifyAccessToken(served.accessToken)?.zoomUserId).toBe('zoom-200s');
    expect(refusal).toBeInstanceOf(TokenUnavailableError);
    expect((refusal as TokenUnavailableError).reason).toBe('refresh_in_progress');
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 0, refreshOk: 0, invalidGrant: 0 });
    expect(queue.requests).toEqual([
      { userId: 'user-200s', reason: 'serve' },
      { userId: 'user-100s', reason: 'serve' },
    ]);
    expect((await stored('user-200s')).user.lease).toBeUndefined();
    expect((await stored('user-100s')).user.lease).toBeUndefined();
  });

  test('an admin re-registration during a refresh wins: the refresh result is discarded', async () => {
    // Prepare: the re-registration lands while Zoom answers the refresh.
    await seedUser('user-rereg', 'zoom-rereg', 200);
    const signingKeys: SigningKeyProvider = {
      keyring: async () => ({ activeKeyId: 'k1', key: (id) => (id === 'k1' ? Buffer.alloc(32, 7) : undefined) }),
    };
    const recallCreates: string[] = [];
    let reRegistered: TokenPair | undefined;
    const zoomWithReRegistration: ZoomTokenClient = {
      ready: () => zoom.ready(),
      async refresh(refreshToken, options): Promise<ZoomRefreshResult> {
        const result = await zoom.refresh(refreshToken, options);
        const grant = fakeZoom.authorize('zoom-rereg', { expiresInSeconds: 3600 });
        reRegistered = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
        await registerUser(
          'user-rereg',
          { tokens: reRegistered, accessTokenExpiresAt: clock() + 3600_000 },
          {
            store,
            cipher,
            signingKeys,
            clock,
            callbackUrl: 'https://vault.example.test/zoom/token',
            oauthAppId: '00000000-0000-4000-8000-00000000a001',
            recall: {
              createZoomOAuthCredential: async ({ callbackUrl }) => {
                recallCreates.push(callbackUrl);
                return { id: 'cred-new' };
              },
              listZoomOAuthCredentials: async () => [],
              getZoomOAuthCredential: async () => undefined,
              deleteZoomOAuthCredential: async () => undefined,
            },
          },
        );
        return result;
      },
    };

    // Act
    const outcome = await refreshUser('user-rereg', clock() + SERVE_MARGIN_MS, deps({ zoom: zoomWithReRegistration }));

    // Assess
    expect(outcome).toEqual({ kind: 'superseded' });
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await stored('user-rereg');
    expect(tokens).toEqual(reRegistered);
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-rereg'));
    expect(user.tokenGeneration).toBe(2);
    expect(user.lease).toBeUndefined();
    expect(user.lastRefreshAt).toBeUndefined();
    expect(user.status).toBe('active');
    // Registered before with cred-user-rereg and key id undefined: the new key id means a new credential.
    expect(recallCreates).toHaveLength(1);
    expect(logLines.filter((line) => line.message === 'refreshed tokens superseded by a newer registration; discarded')).toHaveLength(1);
  });

  test("DELETE, then a new registration, while the old grant's refresh is in flight: the old refresh's pair does not land", async () => {
    // Prepare: the old grant's refresh has been answered by Zoom, its answer held back.
    await seedUser('user-recreated', 'zoom-recreated-old', 200);
    const { client: slowZoom, answered, release } = answerHeldBack(zoom);
    const registration: RegistrationDeps = {
      store,
      cipher,
      clock,
      signingKeys: { keyring: async () => ({ activeKeyId: 'k1', key: (id) => (id === 'k1' ? Buffer.alloc(32, 7) : undefined) }) },
      callbackUrl: 'https://vault.example.test/zoom/token',
      oauthAppId: '00000000-0000-4000-8000-00000000a001',
      recall: {
        createZoomOAuthCredential: async () => ({ id: 'cred-recreated' }),
        listZoomOAuthCredentials: async () => [],
        getZoomOAuthCredential: async () => undefined,
        deleteZoomOAuthCredential: async () => undefined,
      },
    };
    const refresh = refreshUser('user-recreated', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
    await answered.promise;
    const old = (await stored('user-recreated')).user;

    // Act: the user is deleted and registered again with a new grant (generation 1 again), then
    // the old refresh's answer arrives.
    await deleteUser('user-recreated', registration);
    const grant = fakeZoom.authorize('zoom-recreated-new', { expiresInSeconds: 3600 });
    const newTokens: TokenPair = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
    await registerUser('user-recreated', { tokens: newTokens, accessTokenExpiresAt: clock() + 3600_000 }, registration);
    release.resolve();
    const outcome = await refresh;

    // Assess
    expect(outcome).toEqual({ kind: 'superseded' });
    const { user, tokens } = await stored('user-recreated');
    expect(user.registrationId).not.toBe(old.registrationId);
    expect(user).toMatchObject({ status: 'active', tokenGeneration: 1 });
    expect(user.lastRefreshAt).toBeUndefined();
    expect(user.lease).toBeUndefined();
    expect(tokens).toEqual(newTokens);
  });

  test('the registered PUT replayed after many refreshes is recognised: it writes nothing and the live token stays', async () => {
    // Prepare: a user registered through the domain, then refreshed 12 times (more than the
    // fingerprints a record keeps), so the registered refresh token is long consumed.
    const grant = fakeZoom.authorize('zoom-replayed', { expiresInSeconds: 200 });
    const registered: TokenPair = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
    const recallCalls: string[] = [];
    let createdUrl = '';
    const registration = {
      store,
      cipher,
      clock,
      signingKeys: { keyring: async () => ({ activeKeyId: 'k1', key: (id: string) => (id === 'k1' ? Buffer.alloc(32, 7) : undefined) }) },
      callbackUrl: 'https://vault.example.test/zoom/token',
      oauthAppId: '00000000-0000-4000-8000-00000000a001',
      recall: {
        createZoomOAuthCredential: async (input: { callbackUrl: string }) => {
          recallCalls.push('create');
          createdUrl = input.callbackUrl;
          return { id: 'cred-replayed' };
        },
        listZoomOAuthCredentials: async () => [],
        getZoomOAuthCredential: async (id: string) => {
          recallCalls.push('get');
          return { id, callbackUrl: createdUrl };
        },
        deleteZoomOAuthCredential: async () => undefined,
      },
    };
    await registerUser('user-replayed', { tokens: registered, accessTokenExpiresAt: clock() + 200_000 }, registration);
    for (let round = 0; round < 12; round++) {
      const outcome = await refreshUser('user-replayed', clock() + 2 * 3600_000, deps());
      expect(outcome.kind).toBe('refreshed');
    }
    const beforeReplay = await stored('user-replayed');

    // Act: the backend sends its original PUT again (say, after a 502).
    const replay = await registerUser('user-replayed', { tokens: registered, accessTokenExpiresAt: clock() + 200_000 }, registration);

    // Assess
    expect(replay.created).toBe(false);
    const after = await stored('user-replayed');
    expect(after.user.tokenGeneration).toBe(beforeReplay.user.tokenGeneration);
    expect(after.tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-replayed'));
    expect(after.user.refreshTokenFingerprints).toEqual([refreshTokenFingerprint(registered.refreshToken)]);
    expect(recallCalls).toEqual(['create', 'get']);
    const next = await refreshUser('user-replayed', clock() + 2 * 3600_000, deps());
    expect(next.kind).toBe('refreshed');
    expect(fakeZoom.stats().invalidGrant).toBe(0);
  });

  test('a lease write that loses to an unrelated change (a Recall-state write) tries again and refreshes', async () => {
    // Prepare: just before the lease write, another write bumps the item's version.
    await seedUser('user-bumped', 'zoom-bumped', 200);
    let bumped = false;
    const bumpingStore = storeWith(store, {
      async update(userId, condition, update) {
        if (update.lease && !bumped) {
          bumped = true;
          const current = await store.get(userId, { consistent: true });
          await store.update(userId, { registrationId: current!.registrationId, version: current!.version }, { updatedAt: clock() });
        }
        return store.update(userId, condition, update);
      },
    });

    // Act
    const outcome = await refreshUser('user-bumped', clock() + SERVE_MARGIN_MS, deps({ store: bumpingStore }));

    // Assess
    expect(bumped).toBe(true);
    expect(outcome.kind).toBe('refreshed');
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
  });

  test('a refreshed pair that cannot be stored before the invocation ends is handed back as unsaved', async () => {
    // Prepare: every token write fails; the invocation leaves exactly Zoom's least wait and the
    // save reserve. The domain's clock moves only with the retries' waits (not with the machine's speed).
    const { tokens: original } = await seedUser('user-unsaved', 'zoom-unsaved', 200);
    const frozenAt = Date.now();
    const domainClock = () => frozenAt + offsetMs;
    const failingStore = storeWith(store, {
      async update(userId, condition, update) {
        if (update.sealed) throw throughputError();
        return store.update(userId, condition, update);
      },
    });
    const seen: string[] = [];

    // Act: the retries' waits move the domain's clock.
    const outcome = await refreshUser(
      'user-unsaved',
      clock() + SERVE_MARGIN_MS,
      deps({
        store: failingStore,
        clock: domainClock,
        deadline: domainClock() + TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs,
        sleep: async (ms) => {
          offsetMs += ms;
        },
        observe: (kind) => seen.push(kind),
      }),
    );

    // Assess
    expect(seen).toEqual(['unsaved']);
    expect(outcome.kind).toBe('unsaved');
    const newTokens = outcome.kind === 'unsaved' ? outcome.tokens : undefined;
    expect(newTokens?.accessToken).not.toBe(original.accessToken);
    expect(newTokens?.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-unsaved'));
    expect(fakeZoom.verifyAccessToken(newTokens!.accessToken)?.zoomUserId).toBe('zoom-unsaved');
    expect(logLines.some((line) => line.message === 'refreshed tokens could not be stored')).toBe(true);
  });

  test('transient storage errors on the token write are retried until the refreshed pair lands', async () => {
    // Prepare: the first two writes of a token pair fail with a throttling error.
    await seedUser('user-throttled', 'zoom-throttled', 200);
    let failuresLeft = 2;
    const flakyStore = storeWith(store, {
      async update(userId, condition, update) {
        if (update.sealed && failuresLeft > 0) {
          failuresLeft -= 1;
          throw throughputError();
        }
        return store.update(userId, condition, update);
      },
    });
    const sleeps: number[] = [];

    // Act
    const outcome = await refreshUser(
      'user-throttled',
      clock() + SERVE_MARGIN_MS,
      deps({
        store: flakyStore,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      }),
    );

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect(failuresLeft).toBe(0);
    expect(sleeps).toEqual([50, 100]);
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await stored('user-throttled');
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-throttled'));
    expect(tokens.accessToken).toBe(outcome.kind === 'refreshed' ? outcome.tokens.accessToken : undefined);
    expect(user.tokenGeneration).toBe(2);
    expect(user.lease).toBeUndefined();
    expect(logLines.filter((line) => line.message === 'storing refreshed tokens failed; retrying')).toHaveLength(2);
  });

  test('KMS failing after Zoom was called does not matter: the pair is sealed with the data key reserved before', async () => {
    // Prepare: every seal that goes to KMS fails, as a throttled GenerateDataKey would.
    await seedUser('user-seal-throttled', 'zoom-seal-throttled', 200);
    let kmsSeals = 0;
    const flakyCipher: TokenCipher = {
      prepare: () => cipher.prepare(),
      open: (userId, sealed) => cipher.open(userId, sealed),
      async seal() {
        kmsSeals += 1;
        const error = new Error('Rate exceeded');
        error.name = 'ThrottlingException';
        throw error;
      },
    };

    // Act
    const outcome = await refreshUser(
      'user-seal-throttled',
      clock() + SERVE_MARGIN_MS,
      deps({ cipher: flakyCipher, sleep: async () => undefined }),
    );

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect(kmsSeals).toBe(0);
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await stored('user-seal-throttled');
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-seal-throttled'));
    expect(user).toMatchObject({ tokenGeneration: 2, status: 'active' });
    expect(user.lease).toBeUndefined();
  });

  test('when no data key can be had, Zoom is not called and no lease is taken', async () => {
    // Prepare
    await seedUser('user-no-data-key', 'zoom-no-data-key', 200);
    const before = fakeZoom.currentRefreshToken('zoom-no-data-key');
    const keyless: TokenCipher = {
      prepare: async () => {
        const error = new Error('KMS is unavailable');
        error.name = 'KMSInternalException';
        throw error;
      },
      open: (userId, sealed) => cipher.open(userId, sealed),
      seal: (userId, tokens) => cipher.seal(userId, tokens),
    };

    // Act
    const attempt = refreshUser('user-no-data-key', clock() + SERVE_MARGIN_MS, deps({ cipher: keyless }));

    // Assess
    await expect(attempt).rejects.toMatchObject({ name: 'KMSInternalException' });
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 0, refreshOk: 0, invalidGrant: 0 });
    const { user, tokens } = await stored('user-no-data-key');
    expect(tokens.refreshToken).toBe(before);
    expect(user.lease).toBeUndefined();
    expect(user.version).toBe(1);
  });

  test('outcomes are reported for metrics', async () => {
    // Prepare
    await seedUser('user-observed', 'zoom-observed', 200);
    const seen: string[] = [];

    // Act
    await refreshUser('user-observed', clock() + SERVE_MARGIN_MS, deps({ observe: (kind) => seen.push(kind) }));
    await refreshUser('user-observed', clock() + SERVE_MARGIN_MS, deps({ observe: (kind) => seen.push(kind) }));

    // Assess
    expect(seen).toEqual(['refreshed', 'fresh']);
  });

  test('a dispatch over 3000 users reads only the 90 due ones from the index, with no scan; the workers refresh them', async () => {
    // Prepare: 3000 users, 3 in every 100 expiring inside the window, the rest hours later.
    const calls = { Query: 0, QueryItems: 0, Scan: 0, GetItem: 0, UpdateItem: 0 };
    let counting = false;
    dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (counting) {
          const output = result.output as { Items?: unknown[] };
          switch (context.commandName) {
            case 'QueryCommand':
              calls.Query += 1;
              calls.QueryItems += output.Items?.length ?? 0;
              break;
            case 'ScanCommand':
              calls.Scan += 1;
              break;
            case 'GetItemCommand':
              calls.GetItem += 1;
              break;
            case 'UpdateItemCommand':
              calls.UpdateItem += 1;
              break;
          }
        }
        return result;
      },
      { step: 'initialize', name: 'countCallsForTest' },
    );
    const indexes = Array.from({ length: 3000 }, (_, i) => i);
    const isDue = (i: number) => i % 100 < 3;
    const dueIds = indexes.filter(isDue).map((i) => `user-${i}`);
    const now = clock();
    await inPool(indexes, 20, async (i) => {
      const userId = `user-${i}`;
      let tokens: TokenPair;
      let expiresAt: number;
      if (isDue(i)) {
        const grant = fakeZoom.authorize(`zoom-${i}`, { expiresInSeconds: 200 });
        tokens = { accessToken: grant.access_token, refreshToken: grant.refresh_token };
        expiresAt = now + 200_000;
      } else {
        tokens = { accessToken: `access-${i}`, refreshToken: `refresh-${i}` };
        expiresAt = now + 3 * 3600_000 + i * 1000;
      }
      await store.create({
        userId,
        registrationId: `registration-${userId}`,
        version: 1,
        status: 'active',
        sealed: await cipher.seal({ userId, registrationId: `registration-${userId}`, tokenGeneration: 1 }, tokens),
        accessTokenExpiresAt: expiresAt,
        tokenGeneration: 1,
        createdAt: now,
        updatedAt: now,
        recall: { status: 'registered' },
      });
    });
    expect(dueIds).toHaveLength(90);

    // Act
    counting = true;
    queue.paused = true;
    const summary = await dispatchDueUsers(
      { store, refreshQueue: queue, clock, logger: recordingLogger(logLines) },
      { windowMs: WINDOW_MS, maxUsers: 1000, deadline: clock() + 120_000 },
    );
    await queue.runPaused(8);
    counting = false;

    // Assess
    expect(summary).toMatchObject({ due: 90, dispatched: 90, deferred: 0 });
    expect(queue.count('refreshed')).toBe(90);
    expect(calls).toEqual({ Query: 8, QueryItems: 90, Scan: 0, GetItem: 90, UpdateItem: 180 });
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 90, refreshOk: 90, invalidGrant: 0 });

    // Every item, read back with a plain scan (after the sweep, outside the counted calls).
    const items: Record<string, AttributeValue>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamoClient.send(new ScanCommand({ TableName: TABLE_NAME, ExclusiveStartKey: startKey }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const users = items.map(toUser);
    expect(users).toHaveLength(3000);
    const refreshed = users
      .filter((user) => user.tokenGeneration === 2)
      .map((user) => user.userId)
      .sort();
    expect(refreshed).toEqual([...dueIds].sort());
    const untouched = users.filter((user) => !dueIds.includes(user.userId));
    expect(untouched).toHaveLength(2910);
    expect(untouched.every((user) => user.version === 1 && user.tokenGeneration === 1 && user.lastRefreshAt === undefined)).toBe(true);
    for (const user of users.filter((candidate) => dueIds.includes(candidate.userId))) {
      const tokens = await cipher.open(user, sealedTokensOf(user));
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken(`zoom-${user.userId.slice('user-'.length)}`));
      expect(user.lease).toBeUndefined();
    }
    expect(await dueUserIds(WINDOW_MS)).toEqual([]);
  }, 90_000);
});
