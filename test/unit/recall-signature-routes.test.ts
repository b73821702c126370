/**
 * Recall's request signature on the public token routes (the callback and the bot-token routes,
 * through their one seam, handlers/signed-request.ts), built by their factories with in-memory
 * ports and an injected clock: enforced, a request without it gets the bad URL's very 403;
 * reported, it is served; either way it is counted (RecallSignatureFailures, `service` alone)
 * and logged without the headers' values. Without a secret configured nothing changes.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { BOT_TOKEN_PATHS, type RecallSignatureMode } from '../../functions/contract';
import { parseRecallVerificationSecrets, type RecallSignatureSettings } from '../../functions/domain/recall-signature';
import { signBotTokenUrl, signCallbackUrl } from '../../functions/domain/signing';
import { makeBotTokenHandler } from '../../functions/handlers/bot-token';
import { makeCallbackHandler } from '../../functions/handlers/callback';
import { recallSignatureHeaders } from '../../local/fakes/fake-recall';
import { InMemoryZoomApi, World } from '../support/in-memory';
import { recordingObservability } from '../support/recording-observability';
import { OLD_KEYRING, rotatingKeys } from '../support/rotating-keys';

const SCOPES = 'user:read:user user:read:token user:read:zak meeting:read:local_recording_token';
const BASE = 'https://vault.example';
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

type Route = 'callback' | 'obf';

async function setup(recall?: { mode: RecallSignatureMode; secret?: string }) {
  const world = new World();
  const zoomApi = new InMemoryZoomApi(world.zoom);
  const { user, grant } = await world.seedUser('alice', 3600, SCOPES);
  const meetingId = zoomApi.createMeeting(grant.zoomUserId);
  const { logger, metrics, logged, published } = recordingObservability();
  const recallSignatures: RecallSignatureSettings | undefined = recall && {
    mode: recall.mode,
    keys: async () => parseRecallVerificationSecrets(recall.secret ?? SECRET),
  };
  const deps = {
    logger,
    metrics,
    publishMetrics: true,
    store: world.store,
    cipher: world.cipher,
    clock: world.clock.clock,
    policy: { kind: 'proactive' as const },
    refreshQueue: world.queue,
    signingKeys: rotatingKeys(),
    zoomApi,
    ...(recallSignatures ? { recallSignatures } : {}),
  };
  const handlers = { callback: makeCallbackHandler(deps), obf: makeBotTokenHandler(deps) };
  const urls: Record<Route, URL> = {
    callback: signCallbackUrl(`${BASE}/zoom/token`, user, OLD_KEYRING),
    obf: signBotTokenUrl(
      `${BASE}${BOT_TOKEN_PATHS.obf}`,
      'obf',
      { ...user, meetingId, expiresAtSeconds: Math.floor(world.clock.now() / 1000) + 3600 },
      OLD_KEYRING,
    ),
  };
  const call = (route: Route, headers: Record<string, string> = {}, url = urls[route]) => {
    const event = {
      routeKey: route === 'callback' ? 'GET /zoom/token' : `GET ${BOT_TOKEN_PATHS.obf}`,
      headers: { 'user-agent': 'Recall', ...headers },
      queryStringParameters: Object.fromEntries(url.searchParams),
    } as unknown as APIGatewayProxyEventV2;
    return handlers[route](event, { getRemainingTimeInMillis: () => 20_000 } as Context);
  };
  /** Recall's headers, signed at the world's time (or `offsetMs` from it). */
  const signed = (secret = SECRET, offsetMs = 0) => recallSignatureHeaders(secret, world.clock.now() + offsetMs);
  const forged = (route: Route) => {
    const url = new URL(urls[route]);
    url.searchParams.set('sig', 'A'.repeat(43));
    return url;
  };
  return { world, call, signed, forged, logged, published, settings: recallSignatures };
}

const counted = (published: Array<Record<string, unknown>>) =>
  published.filter((blob) => 'RecallSignatureFailures' in blob).map((blob) => blob.RecallSignatureFailures);

describe.each<Route>(['callback', 'obf'])('%s, enforced', (route) => {
  it("serves Recall's signed request", async () => {
    // Prepare
    const s = await setup({ mode: 'enforce' });

    // Act
    const answer = await s.call(route, s.signed());

    // Assess
    expect(answer.statusCode).toBe(200);
    expect(counted(s.published)).toEqual([]);
  });

  it.each<[string, (s: Awaited<ReturnType<typeof setup>>) => Record<string, string>, string]>([
    ["without Recall's headers", () => ({}), 'missing'],
    ['with a timestamp 6 minutes old', (s) => s.signed(SECRET, -360_000), 'stale'],
    ['signed with another secret', (s) => s.signed(OTHER_SECRET), 'mismatch'],
    ['with a signature header only', (s) => ({ 'webhook-signature': s.signed()['webhook-signature'] }), 'malformed'],
  ])("refuses a valid URL %s with the bad URL's very 403, counted and logged", async (_name, headersOf, problem) => {
    // Prepare
    const s = await setup({ mode: 'enforce' });
    const headers = headersOf(s);

    // Act
    const answer = await s.call(route, headers);
    const badUrl = await s.call(route, s.signed(), s.forged(route));

    // Assess
    expect(answer.statusCode).toBe(403);
    expect(answer).toEqual(badUrl);
    expect(counted(s.published)).toEqual([1]);
    const blob = s.published.find((entry) => 'RecallSignatureFailures' in entry)!;
    expect((blob._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    const line = s.logged.find(([message]) => message === 'refused: no valid Recall signature');
    expect(line?.[1]).toEqual({ userId: 'alice', route, problem, mode: 'enforce' });
    const text = JSON.stringify(s.logged);
    for (const value of Object.values(headers)) expect(text).not.toContain(value);
  });

  it('counts nothing for a bad URL: the URL is checked first', async () => {
    // Prepare
    const s = await setup({ mode: 'enforce' });

    // Act
    const answer = await s.call(route, {}, s.forged(route));

    // Assess
    expect(answer.statusCode).toBe(403);
    expect(counted(s.published)).toEqual([]);
  });

  it('refuses everything while the secret is a placeholder, and says why', async () => {
    // Prepare
    const s = await setup({ mode: 'enforce', secret: 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL' });

    // Act
    const answer = await s.call(route, s.signed());

    // Assess
    expect(answer.statusCode).toBe(403);
    expect(counted(s.published)).toEqual([1]);
    expect(s.logged.find(([message]) => message === 'refused: no valid Recall signature')?.[1]).toMatchObject({
      problem: 'secret_placeholder',
    });
  });
});

test.each<Route>(['callback', 'obf'])(
  '%s: a secret put or rotated since it was cached verifies after one fresh read; a request without headers costs none',
  async (route) => {
    // Prepare: the container cached the placeholder; the secret now holds Recall's value.
    const s = await setup({ mode: 'enforce', secret: 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL' });
    const reads: boolean[] = [];
    let cached = 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL';
    s.settings!.keys = async (options) => {
      reads.push(options?.fresh === true);
      if (options?.fresh) cached = SECRET;
      return parseRecallVerificationSecrets(cached);
    };

    // Act
    const signed = await s.call(route, s.signed());
    const readsForSigned = [...reads];
    reads.length = 0;
    const unsigned = await s.call(route);

    // Assess
    expect(signed.statusCode).toBe(200);
    expect(readsForSigned).toEqual([false, true]);
    expect(unsigned.statusCode).toBe(403);
    expect(reads).toEqual([false]);
  },
);

describe.each<Route>(['callback', 'obf'])('%s, reported', (route) => {
  it("serves a request without Recall's headers as before, counted and logged; a signed one is not counted", async () => {
    // Prepare
    const s = await setup({ mode: 'report' });

    // Act
    const unsigned = await s.call(route);
    const signed = await s.call(route, s.signed());

    // Assess
    expect([unsigned.statusCode, signed.statusCode]).toEqual([200, 200]);
    expect(counted(s.published)).toEqual([1]);
    expect(s.logged.find(([message]) => message === 'no valid Recall signature (report mode: served)')?.[1]).toEqual({
      userId: 'alice',
      route,
      problem: 'missing',
      mode: 'report',
    });
  });

  it('serves while the secret is a placeholder, counting every request', async () => {
    // Prepare
    const s = await setup({ mode: 'report', secret: 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL' });

    // Act
    const answers = [await s.call(route, s.signed()), await s.call(route)];

    // Assess
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
    expect(counted(s.published)).toEqual([1, 1]);
  });
});

test.each<Route>(['callback', 'obf'])(
  '%s without a verification secret: served as today, headers or not, nothing counted',
  async (route) => {
    // Prepare
    const s = await setup();

    // Act
    const answers = [await s.call(route), await s.call(route, s.signed(OTHER_SECRET, -3600_000))];

    // Assess
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
    expect(counted(s.published)).toEqual([]);
  },
);
