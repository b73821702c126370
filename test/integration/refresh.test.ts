/**
 * Refreshing and serving tokens with the real adapters: dynalite for DynamoDB, the KMS stand-in
 * reached through @aws-sdk/client-kms, and the real Zoom client against the fake Zoom over HTTP.
 * The fake Zoom's refresh tokens are single-use, so a double refresh or a lost answer shows up as
 * invalid_grant or as a stored refresh token that Zoom no longer knows.
 *
 * Each test gets its own dynalite and fake Zoom (a sweep reads the whole due index, and Zoom's
 * counters are asserted exactly); the KMS stand-in and the cipher are shared.
 */
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore, toUser } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import { TokenUnavailableError } from '../../functions/domain/errors';
import type { Log, SigningKeyProvider, TokenCipher, TokenStore, ZoomRefreshResult, ZoomTokenClient } from '../../functions/domain/ports';
import { refreshUser, type RefreshDeps } from '../../functions/domain/refresh';
import { registerUser } from '../../functions/domain/registration';
import { serveAccessToken } from '../../functions/domain/serve-token';
import { sweepDueUsers } from '../../functions/domain/sweep';
import { refreshTokenFingerprint, type StoredUser, type TokenPair } from '../../functions/domain/token-record';
import { startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';
import {
  DEFAULT_FAKE_ZOOM_CLIENT_ID,
  DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
  startFakeZoom,
  type FakeZoom,
} from '../../local/fakes/fake-zoom';
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
  const at = (level: LogLine['level']) => (message: string, ...attributes: Record<string, unknown>[]) => {
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
    delete: (userId) => store.delete(userId),
    listDue: (dueBefore) => store.listDue(dueBefore),
    ...overrides,
  };
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
  });

  afterEach(async () => {
    await fakeZoom.close();
    dynamoClient.destroy();
    await dynalite.close();
  });

  function deps(overrides: Partial<RefreshDeps> = {}): RefreshDeps {
    return { store, cipher, zoom, clock, logger: recordingLogger(logLines), ...overrides };
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
      sealed: await cipher.seal(userId, tokens),
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
    return { user, tokens: await cipher.open(userId, user.sealed) };
  }

  async function dueUserIds(windowMs: number): Promise<string[]> {
    const ids: string[] = [];
    for await (const due of store.listDue(clock() + windowMs)) ids.push(due.userId);
    return ids.sort();
  }

  test('50 concurrent serves and a sweep on an expiring token: one Zoom refresh, one new token for all', async () => {
    // Prepare
    const { tokens: original } = await seedUser('user-race', 'zoom-race', 200);
    const serveDeps = deps({ zoomTimeoutMs: 2_500 });
    const deadline = clock() + 10_000;

    // Act
    const [served, summary] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, () => serveAccessToken('user-race', serveDeps, { deadline, pollIntervalMs: 20 }))),
      sweepDueUsers(deps(), { windowMs: WINDOW_MS, concurrency: 4, deadline: clock() + 60_000 }),
    ]);

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

    expect(summary.due).toBe(1);
    expect(summary.refreshed + summary.alreadyFresh + summary.skippedLeaseHeld).toBe(1);
    expect(summary.errors + summary.failedRetryable + summary.grantsDead + summary.unsaved).toBe(0);
    expect(logLines.filter((line) => line.message === 'token refreshed')).toHaveLength(1);
    expect(logLines.filter((line) => line.level === 'error')).toEqual([]);
  });

  test('a lease whose holder died blocks refreshes until it expires, then one refresh takes over', async () => {
    // Prepare: a worker took the lease and died before calling Zoom.
    const { tokens: original } = await seedUser('user-dead-lease', 'zoom-dead-lease', 200);
    await store.update('user-dead-lease', { version: 1 }, { lease: { owner: 'dead-worker', expiresAt: clock() + 30_000 } });

    // Act: before the lease expires
    const blocked = await refreshUser('user-dead-lease', clock() + SERVE_MARGIN_MS, deps());
    const servedMeanwhile = await serveAccessToken('user-dead-lease', deps(), { deadline: clock() + 200, pollIntervalMs: 50 });

    // Assess
    expect(blocked.kind).toBe('lease_held');
    expect(fakeZoom.stats().refreshCalls).toBe(0);
    // The stored token still has more than 150 s: served while the lease blocks a refresh.
    expect(servedMeanwhile.accessToken).toBe(original.accessToken);

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
    test('still stores its pair; the worker that took over gets invalid_grant, re-reads and serves the winner\'s token', async () => {
      // Prepare: A's Zoom call succeeds at Zoom, but its answer is held back.
      const { tokens: original } = await seedUser('user-slow', 'zoom-slow', 200);
      const { client: slowZoom, answered: aAnswered, release: releaseA } = answerHeldBack(zoom);
      const { client: gatedZoom, atZoom: bAtZoom, release: releaseB } = heldBeforeZoom(zoom);

      // Act: A refreshes; its lease expires before its answer comes back; B (a callback) takes over.
      const a = refreshUser('user-slow', clock() + SERVE_MARGIN_MS, deps({ zoom: slowZoom }));
      await aAnswered.promise;
      offsetMs += 31_000;
      const b = serveAccessToken('user-slow', deps({ zoom: gatedZoom }), { deadline: clock() + 5_000, pollIntervalMs: 20 });
      const consumedByB = await bAtZoom.promise;
      const duringTakeover = await stored('user-slow');
      releaseA.resolve();
      const aOutcome = await a;
      releaseB.resolve();
      const bServed = await b;

      // Assess
      expect(consumedByB).toBe(original.refreshToken);
      expect(duringTakeover.user.lease?.expiresAt).toBeGreaterThan(clock());
      expect(aOutcome.kind).toBe('refreshed');
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

    test('the worker that took over hears invalid_grant before the slow one stored its pair: no reauth_required verdict', async () => {
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

      // Assess: B consumed nothing (its refresh token was already used by A) and must not condemn the grant.
      expect(bOutcome.kind).toBe('retryable');
      expect(afterB.user.status).toBe('active');
      expect(afterB.user.reauthRequired).toBeUndefined();
      expect(afterB.tokens.refreshToken).toBe(original.refreshToken);
      expect(aOutcome.kind).toBe('refreshed');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
      const { user, tokens } = await stored('user-slow-store');
      expect(user.status).toBe('active');
      expect(user.tokenGeneration).toBe(2);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-slow-store'));
      expect(await dueUserIds(24 * 3600_000)).toEqual(['user-slow-store']);
    });

    test('a grant that really is dead is condemned by the attempt after the takeover', async () => {
      // Prepare: the lease holder died; meanwhile the user revoked the app.
      await seedUser('user-dead-and-revoked', 'zoom-dead-and-revoked', 200);
      await store.update('user-dead-and-revoked', { version: 1 }, { lease: { owner: 'dead-worker', expiresAt: clock() + 30_000 } });
      fakeZoom.revoke('zoom-dead-and-revoked');
      offsetMs += 31_000;

      // Act
      const takeover = await refreshUser('user-dead-and-revoked', clock() + SERVE_MARGIN_MS, deps());
      const afterTakeover = (await stored('user-dead-and-revoked')).user;
      const next = await refreshUser('user-dead-and-revoked', clock() + SERVE_MARGIN_MS, deps());

      // Assess
      expect(takeover).toEqual({ kind: 'retryable', error: 'invalid_grant_after_lease_takeover' });
      expect(afterTakeover.status).toBe('active');
      expect(afterTakeover.lease).toBeUndefined();
      expect(afterTakeover.lastError).toMatchObject({ code: 'zoom_invalid_grant_after_takeover', message: 'Token has been revoked' });
      expect(next.kind).toBe('grant_dead');
      const { user } = await stored('user-dead-and-revoked');
      expect(user.status).toBe('reauth_required');
      expect(user.reauthRequired).toMatchObject({ code: 'invalid_grant', message: 'Token has been revoked' });
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 0, invalidGrant: 2 });
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

  test('a sweep over 5 due users, one of whom revoked the app: 4 refreshed, 1 grant dead and out of the index', async () => {
    // Prepare
    const ids = [1, 2, 3, 4, 5].map((n) => `user-sweep-${n}`);
    for (const [index, userId] of ids.entries()) await seedUser(userId, `zoom-sweep-${index + 1}`, 200);
    fakeZoom.revoke('zoom-sweep-3');

    // Act
    const summary = await sweepDueUsers(deps(), { windowMs: WINDOW_MS, concurrency: 3, deadline: clock() + 60_000 });

    // Assess
    expect(summary).toMatchObject({ due: 5, refreshed: 4, grantsDead: 1, alreadyFresh: 0, skippedLeaseHeld: 0, failedRetryable: 0, errors: 0, deferred: 0 });
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
    const refusal = await serveAccessToken('user-sweep-3', deps(), { deadline: clock() + 1_000 }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(TokenUnavailableError);
    expect((refusal as TokenUnavailableError).reason).toBe('reauth_required');
    expect(fakeZoom.stats().refreshCalls).toBe(5);
  });

  describe('retryable Zoom failures', () => {
    test('a 503 leaves the stored pair intact, releases the lease and notes the error; the next sweep refreshes', async () => {
      // Prepare
      const { tokens: original } = await seedUser('user-503', 'zoom-503', 200);
      fakeZoom.failNext(1, { status: 503 });

      // Act
      const outcome = await refreshUser('user-503', clock() + SERVE_MARGIN_MS, deps());

      // Assess
      expect(outcome).toEqual({ kind: 'retryable', error: 'server_error' });
      const after = await stored('user-503');
      expect(after.tokens).toEqual(original);
      expect(fakeZoom.currentRefreshToken('zoom-503')).toBe(original.refreshToken);
      expect(after.user.tokenGeneration).toBe(1);
      expect(after.user.lease).toBeUndefined();
      expect(after.user.status).toBe('active');
      expect(after.user.lastError).toMatchObject({ code: 'zoom_unavailable', message: 'server_error' });

      // Act: the next sweep
      const summary = await sweepDueUsers(deps(), { windowMs: WINDOW_MS, concurrency: 2, deadline: clock() + 60_000 });

      // Assess
      expect(summary).toMatchObject({ due: 1, refreshed: 1, failedRetryable: 0, errors: 0 });
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      const { user, tokens } = await stored('user-503');
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-503'));
      expect(tokens.refreshToken).not.toBe(original.refreshToken);
      expect(user.tokenGeneration).toBe(2);
      expect(user.lastError).toBeUndefined();
    });

    test('a Zoom call that hangs past zoomTimeoutMs is retryable and consumes nothing', async () => {
      // Prepare
      const { tokens: original } = await seedUser('user-hang', 'zoom-hang', 200);
      fakeZoom.failNext(1, 'hang');

      // Act
      const outcome = await refreshUser('user-hang', clock() + SERVE_MARGIN_MS, deps({ zoomTimeoutMs: 200 }));

      // Assess
      expect(outcome).toEqual({ kind: 'retryable', error: 'timeout' });
      const after = await stored('user-hang');
      expect(after.tokens.refreshToken).toBe(original.refreshToken);
      expect(fakeZoom.currentRefreshToken('zoom-hang')).toBe(original.refreshToken);
      expect(after.user.lease).toBeUndefined();
      expect(after.user.lastError).toMatchObject({ code: 'zoom_unavailable', message: 'timeout' });

      // Act: try again
      const again = await refreshUser('user-hang', clock() + SERVE_MARGIN_MS, deps({ zoomTimeoutMs: 2_000 }));

      // Assess
      expect(again.kind).toBe('refreshed');
      expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 0 });
      expect((await stored('user-hang')).tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-hang'));
    });
  });

  test('when the refresh fails, a token with 200 s left is still served and one with 100 s left is not', async () => {
    // Prepare
    const { tokens: longer } = await seedUser('user-200s', 'zoom-200s', 200);
    await seedUser('user-100s', 'zoom-100s', 100);
    fakeZoom.failNext(2, { status: 503 });

    // Act
    const served = await serveAccessToken('user-200s', deps(), { deadline: clock() + 4_000 });
    const refusal = await serveAccessToken('user-100s', deps(), { deadline: clock() + 4_000 }).catch((error: unknown) => error);

    // Assess
    expect(served.accessToken).toBe(longer.accessToken);
    expect(served.expiresAt - clock()).toBeGreaterThanOrEqual(150_000);
    expect(fakeZoom.verifyAccessToken(served.accessToken)?.zoomUserId).toBe('zoom-200s');
    expect(refusal).toBeInstanceOf(TokenUnavailableError);
    expect((refusal as TokenUnavailableError).reason).toBe('refresh_failed');
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 2, refreshOk: 0, invalidGrant: 0 });
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
      async refresh(refreshToken, options): Promise<ZoomRefreshResult> {
        const result = await zoom.refresh(refreshToken, options);
        const grant = fakeZoom.authorize('zoom-rereg', { expiresInSeconds: 3600 });
        reRegistered = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
        await registerUser('user-rereg', { tokens: reRegistered, accessTokenExpiresAt: clock() + 3600_000 }, {
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
        });
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

  test('the registered PUT replayed after many refreshes is recognised: it writes nothing and the live token stays', async () => {
    // Prepare: a user registered through the domain, then refreshed 12 times (more than the
    // fingerprints a record keeps), so the registered refresh token is long consumed.
    const grant = fakeZoom.authorize('zoom-replayed', { expiresInSeconds: 200 });
    const registered: TokenPair = { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope };
    const recallCalls: string[] = [];
    const registration = {
      store,
      cipher,
      clock,
      signingKeys: { keyring: async () => ({ activeKeyId: 'k1', key: (id: string) => (id === 'k1' ? Buffer.alloc(32, 7) : undefined) }) },
      callbackUrl: 'https://vault.example.test/zoom/token',
      oauthAppId: '00000000-0000-4000-8000-00000000a001',
      recall: {
        createZoomOAuthCredential: async () => (recallCalls.push('create'), { id: 'cred-replayed' }),
        listZoomOAuthCredentials: async () => [],
        getZoomOAuthCredential: async (id: string) => (recallCalls.push('get'), { id, callbackUrl: 'https://vault.example.test/zoom/token?user_id=user-replayed&kid=k1&sig=x' }),
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
          await store.update(userId, { version: current!.version }, { updatedAt: clock() });
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

  test('a refreshed pair that cannot be stored still serves its new access token', async () => {
    // Prepare: every token write fails, and little time is left to retry.
    const { tokens: original } = await seedUser('user-unsaved', 'zoom-unsaved', 200);
    const failingStore = storeWith(store, {
      async update(userId, condition, update) {
        if (update.sealed) throw throughputError();
        return store.update(userId, condition, update);
      },
    });
    const seen: string[] = [];

    // Act
    const served = await serveAccessToken(
      'user-unsaved',
      deps({ store: failingStore, saveUntil: clock() + 5_000, sleep: async () => undefined, observe: (kind) => seen.push(kind) }),
      { deadline: clock() + 4_000 },
    );

    // Assess
    expect(seen).toEqual(['unsaved']);
    expect(served.accessToken).not.toBe(original.accessToken);
    expect(fakeZoom.verifyAccessToken(served.accessToken)?.zoomUserId).toBe('zoom-unsaved');
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
    const outcome = await refreshUser('user-throttled', clock() + SERVE_MARGIN_MS, deps({
      store: flakyStore,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    }));

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

  test('a KMS failure while sealing the refreshed pair is retried: the pair still lands', async () => {
    // Prepare: the first two seals after Zoom answered fail, as a throttled GenerateDataKey would.
    await seedUser('user-seal-throttled', 'zoom-seal-throttled', 200);
    let failuresLeft = 2;
    const flakyCipher: TokenCipher = {
      prepare: () => cipher.prepare(),
      open: (userId, sealed) => cipher.open(userId, sealed),
      async seal(userId, tokens) {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          const error = new Error('Rate exceeded');
          error.name = 'ThrottlingException';
          throw error;
        }
        return cipher.seal(userId, tokens);
      },
    };

    // Act
    const outcome = await refreshUser('user-seal-throttled', clock() + SERVE_MARGIN_MS, deps({ cipher: flakyCipher, sleep: async () => undefined }));

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect(failuresLeft).toBe(0);
    expect(fakeZoom.stats()).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    const { user, tokens } = await stored('user-seal-throttled');
    expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken('zoom-seal-throttled'));
    expect(user).toMatchObject({ tokenGeneration: 2, status: 'active' });
    expect(user.lease).toBeUndefined();
  });

  test('when no data key can be had, Zoom is not called and the lease is given back', async () => {
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
    expect(user.lastError).toMatchObject({ code: 'refresh_setup_failed', message: 'KMSInternalException' });
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

  test('a sweep over 3000 users reads only the 90 due ones from the index, with no scan', async () => {
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
        sealed: await cipher.seal(userId, tokens),
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
    const summary = await sweepDueUsers(deps(), { windowMs: WINDOW_MS, concurrency: 8, deadline: clock() + 120_000 });
    counting = false;

    // Assess
    expect(summary).toMatchObject({ due: 90, refreshed: 90, alreadyFresh: 0, skippedLeaseHeld: 0, failedRetryable: 0, grantsDead: 0, errors: 0, deferred: 0 });
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
    const refreshed = users.filter((user) => user.tokenGeneration === 2).map((user) => user.userId).sort();
    expect(refreshed).toEqual([...dueIds].sort());
    const untouched = users.filter((user) => !dueIds.includes(user.userId));
    expect(untouched).toHaveLength(2910);
    expect(untouched.every((user) => user.version === 1 && user.tokenGeneration === 1 && user.lastRefreshAt === undefined)).toBe(true);
    for (const user of users.filter((candidate) => dueIds.includes(candidate.userId))) {
      const tokens = await cipher.open(user.userId, user.sealed);
      expect(tokens.refreshToken).toBe(fakeZoom.currentRefreshToken(`zoom-${user.userId.slice('user-'.length)}`));
      expect(user.lease).toBeUndefined();
    }
    expect(await dueUserIds(WINDOW_MS)).toEqual([]);
  }, 90_000);
});
