/**
 * Zoom's REST API client for bot tokens: the ZoomApiClient contract against the real adapter
 * over HTTP to the fake Zoom and against the in-memory double; then what only the adapter does:
 * Zoom's documented routes with the bearer in the header only, transient failures tried again
 * within the deadline, a long Retry-After not waited for, a hanging Zoom cut off.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createZoomApiClient } from '../../functions/adapters/zoom-api-client';
import { type FakeZoom, startFakeZoom } from '../../local/fakes/fake-zoom';
import { InMemoryZoomApi, ManualClock, ScriptedZoom } from '../support/in-memory';
import { describeZoomApiContract } from '../support/zoom-api-contract';

describeZoomApiContract('the adapter over HTTP to the fake Zoom', async () => {
  const zoom = await startFakeZoom();
  return {
    client: createZoomApiClient({ baseUrl: zoom.apiBaseUrl }),
    authorize: (zoomUserId, scope) => zoom.authorize(zoomUserId, { scope }).access_token,
    expire: (zoomUserId) => zoom.expireAccessTokens(zoomUserId),
    createMeeting: (host) => zoom.createMeeting(host),
    use: (token) => zoom.useBotToken(token),
    calls: () => zoom.apiStats().apiCalls,
    close: () => zoom.close(),
  };
});

describeZoomApiContract('the in-memory double', async () => {
  const zoom = new ScriptedZoom(new ManualClock().clock);
  const api = new InMemoryZoomApi(zoom);
  return {
    client: api,
    authorize: (zoomUserId, scope) => zoom.authorize(zoomUserId, 3600, scope).tokens.accessToken,
    expire: (zoomUserId) => zoom.invalidateAccessTokens(zoomUserId),
    createMeeting: (host) => api.createMeeting(host),
    use: (token) => api.use(token),
    calls: () => api.calls.length,
  };
});

describe('the adapter', () => {
  let zoom: FakeZoom;
  beforeEach(async () => {
    zoom = await startFakeZoom();
  });
  afterEach(async () => {
    await zoom.close();
  });

  const ready = () => ({ accessToken: zoom.authorize('host').access_token, meetingId: zoom.createMeeting('host') });

  it('tries a transient failure again within the deadline, and mints', async () => {
    // Prepare
    const { accessToken, meetingId } = ready();
    zoom.failNextApi(1, { status: 503 });
    zoom.failNextApi(1, { status: 429, retryAfterSeconds: 0 });
    const client = createZoomApiClient({ baseUrl: zoom.apiBaseUrl, random: () => 0 });

    // Act
    const result = await client.mintBotToken('obf', meetingId, accessToken, { deadline: Date.now() + 4_000 });

    // Assess
    expect(result.kind).toBe('token');
    expect(zoom.apiStats()).toMatchObject({ apiCalls: 3, onbehalf: 1 });
  });

  it('a bounded retry: three attempts, then the last failure', async () => {
    // Prepare
    const { accessToken, meetingId } = ready();
    zoom.failNextApi(5, { status: 502 });
    const client = createZoomApiClient({ baseUrl: zoom.apiBaseUrl, random: () => 0 });

    // Act
    const result = await client.mintBotToken('zak', meetingId, accessToken, { deadline: Date.now() + 4_000 });

    // Assess
    expect(result).toMatchObject({ kind: 'retry', cause: 'zoom_error', status: 502 });
    expect(zoom.apiStats().apiCalls).toBe(3);
  });

  it('a Retry-After longer than the answer budget is not waited for: the result carries it', async () => {
    // Prepare
    const { accessToken, meetingId } = ready();
    zoom.failNextApi(1, { status: 429, retryAfterSeconds: 30 });
    const slept: number[] = [];
    const client = createZoomApiClient({ baseUrl: zoom.apiBaseUrl, sleep: async (ms) => void slept.push(ms) });

    // Act
    const result = await client.mintBotToken('obf', meetingId, accessToken, { deadline: Date.now() + 4_000 });

    // Assess
    expect(result).toMatchObject({ kind: 'retry', cause: 'throttled', status: 429, retryAfterMs: 30_000 });
    expect(slept).toEqual([]);
    expect(zoom.apiStats().apiCalls).toBe(1);
  });

  it('a hanging Zoom is cut off at the deadline: retry (timeout)', async () => {
    // Prepare
    const { accessToken, meetingId } = ready();
    zoom.failNextApi(10, 'hang');
    const client = createZoomApiClient({ baseUrl: zoom.apiBaseUrl, attemptTimeoutMs: 50, random: () => 0 });

    // Act
    const result = await client.mintBotToken('obf', meetingId, accessToken, { deadline: Date.now() + 300 });

    // Assess
    expect(result).toMatchObject({ kind: 'retry', cause: 'timeout' });
    expect(zoom.apiStats().apiCalls).toBeLessThanOrEqual(3);
  });
});

describe("Zoom's documented routes", () => {
  it('GET users/me/token (type onbehalf with the meeting, type zak) and meetings/{id}/jointoken/local_recording; the bearer in the header only', async () => {
    // Prepare
    const seen: Array<{ method?: string; url?: string; authorization?: string }> = [];
    const server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`;
    const client = createZoomApiClient({ baseUrl });

    // Act
    for (const kind of ['obf', 'zak', 'join_token'] as const) {
      await client.mintBotToken(kind, '85746065432', 'the-access-token', { deadline: Date.now() + 4_000 });
    }
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));

    // Assess
    expect(seen).toEqual([
      { method: 'GET', url: '/v2/users/me/token?type=onbehalf&meeting_id=85746065432', authorization: 'Bearer the-access-token' },
      { method: 'GET', url: '/v2/users/me/token?type=zak', authorization: 'Bearer the-access-token' },
      { method: 'GET', url: '/v2/meetings/85746065432/jointoken/local_recording', authorization: 'Bearer the-access-token' },
    ]);
  });
});
