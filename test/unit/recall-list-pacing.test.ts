/**
 * Recall allows 60 list requests a minute: the client's list, asked for a page interval, starts
 * each page at least that long after the previous one (virtual time: the sleeps are counted).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRecallClient } from '../../functions/adapters/recall-client';

let server: Server;
let baseUrl: string;
const pagesServed: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const page = Number(url.searchParams.get('cursor') ?? '1');
    pagesServed.push(url.search);
    const next =
      page < 3
        ? `${baseUrl}/api/v2/zoom-oauth-credentials/?${new URLSearchParams({ ...Object.fromEntries(url.searchParams), cursor: String(page + 1) })}`
        : null;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ next, previous: null, results: [{ id: `c${page}`, status: 'unhealthy' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

test('three pages with a 1 s interval: two waits of 1 s, every page read, the status filter sent', async () => {
  // Prepare
  let now = 1_000_000;
  const sleeps: number[] = [];
  const client = createRecallClient({
    baseUrl,
    apiKey: () => 'key',
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  });

  // Act
  const listed = await client.listZoomOAuthCredentials({ oauthAppId: 'app', status: 'unhealthy' }, { pageIntervalMs: 1_000 });

  // Assess
  expect(listed.map((credential) => credential.id)).toEqual(['c1', 'c2', 'c3']);
  expect(sleeps).toEqual([1_000, 1_000]);
  expect(pagesServed[0]).toContain('status=unhealthy');
});

test('without an interval, pages follow at once', async () => {
  // Prepare
  const sleeps: number[] = [];
  const client = createRecallClient({ baseUrl, apiKey: () => 'key', sleep: async (ms) => void sleeps.push(ms) });

  // Act
  const listed = await client.listZoomOAuthCredentials({ oauthAppId: 'app' });

  // Assess
  expect(listed).toHaveLength(3);
  expect(sleeps).toEqual([]);
});
