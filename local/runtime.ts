/**
 * The local runtime: the Lambda handlers on one machine, with no AWS account.
 *
 * - dynalite (a DynamoDB-compatible server) persisted under DATA_DIR;
 * - the project's KMS stand-in, reached through the real @aws-sdk/client-kms;
 * - an HTTP server that turns requests into the API Gateway (HTTP API, payload 2.0) events the
 *   Lambdas receive in AWS and calls the same handlers: only the endpoints differ;
 * - the refresher on an interval, as EventBridge runs it in AWS;
 * - unless real ones are configured, the fake Recall and fake Zoom (demo mode).
 *
 * Local-only: nothing here enters a Lambda bundle.
 */
import { randomBytes, randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ADMIN_ROUTE_KEYS, CALLBACK_ROUTE_KEY, splitRouteKey } from '../functions/handlers/routes';
import { startDynalite, TABLE_NAME } from './dynamo';
import { startKmsServer, type KmsServer } from './kms/kms-server';
import { DEFAULT_FAKE_RECALL_API_KEY, startFakeRecall, type FakeRecall } from './fakes/fake-recall';
import { DEFAULT_FAKE_ZOOM_CLIENT_ID, DEFAULT_FAKE_ZOOM_CLIENT_SECRET, startFakeZoom, type FakeZoom } from './fakes/fake-zoom';

export const DEMO_OAUTH_APP_ID = '00000000-0000-4000-8000-00000000a001';
const KMS_KEY_ID = 'local-token-key';
/** Bodies larger than this are refused before any handler runs; the admin handler's own limit is far lower. */
const MAX_REQUEST_BYTES = 1024 * 1024;

type Handler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalRuntimeOptions {
  /** Environment to run with (defaults to process.env): PORT, DATA_DIR, ADMIN_TOKEN, RECALL_*, ZOOM_*, … */
  env?: Record<string, string | undefined>;
  /** Print the banner and request lines. */
  verbose?: boolean;
}

export interface LocalRuntime {
  url: string;
  port: number;
  adminToken: string;
  dataDir: string;
  kms: KmsServer;
  dynamoEndpoint: string;
  /** Present in demo mode. */
  fakeZoom?: FakeZoom;
  fakeRecall?: FakeRecall;
  /** Runs one refresher sweep now (the interval runs them too). */
  sweep(): Promise<unknown>;
  close(): Promise<void>;
}

interface Route {
  method: string;
  pattern: RegExp;
  routeKey: string;
  handler: 'callback' | 'admin';
}

function route(routeKey: string, handler: Route['handler']): Route {
  const { method, path } = splitRouteKey(routeKey);
  // "/users/{userId}/…" → a pattern capturing the path parameter, as the gateway does.
  const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, '(?<$1>[^/]+)');
  return { method, pattern: new RegExp(`^${source}$`), routeKey, handler };
}

/** The HTTP API's routes, from the list the stack deploys. */
const ROUTES: Route[] = [route(CALLBACK_ROUTE_KEY, 'callback'), ...ADMIN_ROUTE_KEYS.map((key) => route(key, 'admin'))];

function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/local/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return 'too_large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An API Gateway HTTP API (payload format 2.0) event, built the way the gateway builds it. */
export function toApiGatewayEvent(request: IncomingMessage, url: URL, route: Route, body: Buffer, pathParameters?: Record<string, string>): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // The gateway joins repeated query parameters with commas.
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
  const isText = body.length === 0 || /json|text/.test(headers['content-type'] ?? '');
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: url.host,
      domainPrefix: 'local',
      http: { method: route.method, path: url.pathname, protocol: `HTTP/${request.httpVersion}`, sourceIp: request.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: body.length ? (isText ? body.toString('utf8') : body.toString('base64')) : undefined,
    isBase64Encoded: body.length > 0 && !isText,
  };
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
  response.end(result.body ?? '');
}

function sameSecret(given: string, expected: string): boolean {
  // Hash first so lengths match and the comparison is constant-time.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

async function ensureFile(path: string, create: () => string): Promise<{ value: string; created: boolean }> {
  if (existsSync(path)) return { value: (await readFile(path, 'utf8')).trim(), created: false };
  const value = create();
  await writeFile(path, value + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
  return { value, created: true };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolvePort((server.address() as AddressInfo).port));
  });
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = options.env ?? process.env;
  const say = (line: string) => options.verbose && console.log(line);
  const host = env.HOST?.trim() || '127.0.0.1';
  const requestedPort = Number(env.PORT?.trim() || 3000);
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) throw new Error('PORT must be a port number');
  const dataDir = resolve(env.DATA_DIR?.trim() || '.data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const closers: Array<() => Promise<unknown>> = [];

  try {
    // DynamoDB stand-in, persisted.
    const dynamo = await startDynalite(join(dataDir, 'dynamodb'));
    closers.push(() => dynamo.close());
    const dynamoEndpoint = dynamo.endpoint;

    // KMS stand-in, its master key persisted.
    const kms = await startKmsServer({ keyFile: join(dataDir, 'kms-keys.json'), keyIds: [KMS_KEY_ID] });
    closers.push(() => kms.close());

    // Signing keys and the admin bearer token live in the data directory (Secrets Manager and IAM in AWS).
    const signingKeysFile = join(dataDir, 'signing-keys.json');
    await ensureFile(signingKeysFile, () => JSON.stringify({ active: 'k1', k1: randomBytes(48).toString('base64url') }));
    const adminToken = env.ADMIN_TOKEN?.trim()
      ? { value: env.ADMIN_TOKEN.trim(), created: false }
      : await ensureFile(join(dataDir, 'admin-token'), () => randomBytes(32).toString('base64url'));

    // Demo mode: fakes for whatever real service is not configured, beside the service's port
    // (fake Recall PORT+1, fake Zoom PORT+2) and keeping their state in the data directory too.
    const fakePort = (offset: number) => (requestedPort === 0 ? 0 : requestedPort + offset);
    let fakeZoom: FakeZoom | undefined;
    let fakeRecall: FakeRecall | undefined;
    const demoEnv: Record<string, string> = {};
    if (!env.ZOOM_CLIENT_ID?.trim()) {
      fakeZoom = await startFakeZoom({ port: fakePort(2), stateFile: join(dataDir, 'fake-zoom.json') });
      closers.push(() => fakeZoom!.close());
      Object.assign(demoEnv, { ZOOM_TOKEN_URL: fakeZoom.tokenUrl, ZOOM_CLIENT_ID: DEFAULT_FAKE_ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET: DEFAULT_FAKE_ZOOM_CLIENT_SECRET });
    }
    if (!env.RECALL_API_KEY?.trim()) {
      if (!fakeZoom) throw new Error('RECALL_API_KEY is unset: the fake Recall needs the fake Zoom too (unset ZOOM_CLIENT_ID), or set RECALL_API_KEY');
      fakeRecall = await startFakeRecall({ port: fakePort(1), verifyAccessToken: fakeZoom.verifyAccessToken, stateFile: join(dataDir, 'fake-recall.json') });
      closers.push(() => fakeRecall!.close());
      Object.assign(demoEnv, { RECALL_API_BASE_URL: fakeRecall.url, RECALL_API_KEY: DEFAULT_FAKE_RECALL_API_KEY, RECALL_ZOOM_OAUTH_APP_ID: DEMO_OAUTH_APP_ID });
    }

    const server = createServer();
    const port = await listen(server, requestedPort, host);
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

    // The handlers read their configuration from the environment once, at import, as in Lambda.
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
      AWS_ENDPOINT_URL_KMS: kms.url,
      TABLE_NAME,
      KMS_KEY_ID: kms.keyArn(KMS_KEY_ID),
      SIGNING_KEYS_FILE: signingKeysFile,
      DUE_SHARDS: env.DUE_SHARDS ?? '8',
      PUBLIC_BASE_URL: env.PUBLIC_BASE_URL?.trim() || url,
      REFRESH_WINDOW_SECONDS: env.REFRESH_WINDOW_SECONDS ?? '900',
      // CloudWatch metrics (EMF lines) mean nothing locally; POWERTOOLS_METRICS_DISABLED=false shows them.
      POWERTOOLS_METRICS_DISABLED: env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      ...pick(env, ['RECALL_API_BASE_URL', 'RECALL_API_KEY', 'RECALL_ZOOM_OAUTH_APP_ID', 'ZOOM_TOKEN_URL', 'ZOOM_CLIENT_ID', 'ZOOM_CLIENT_SECRET', 'POWERTOOLS_LOG_LEVEL', 'RECALL_TIMEOUT_MS', 'RECALL_BUDGET_MS', 'REFRESH_CONCURRENCY']),
      ...demoEnv,
    });
    const handlers: Record<'callback' | 'admin' | 'refresher', Handler> = {
      callback: (await import('../functions/handlers/callback')).handler as unknown as Handler,
      admin: (await import('../functions/handlers/admin')).handler as unknown as Handler,
      refresher: (await import('../functions/handlers/refresher')).handler as unknown as Handler,
    };

    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      void (async () => {
        const requestUrl = new URL(request.url ?? '/', url);
        const candidates = ROUTES.filter((route) => route.pattern.test(requestUrl.pathname));
        const route = candidates.find((candidate) => candidate.method === request.method);
        if (!route) {
          send(response, { statusCode: candidates.length ? 405 : 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: candidates.length ? 'Method Not Allowed' : 'Not Found' }) });
          return;
        }
        if (route.handler === 'admin') {
          // In AWS the gateway checks a SigV4 signature (IAM); locally a bearer token stands in.
          const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
          if (!sameSecret(given, adminToken.value)) {
            send(response, { statusCode: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }, body: JSON.stringify({ message: 'Unauthorized' }) });
            return;
          }
        }
        const body = await readBody(request);
        if (body === 'too_large') {
          send(response, { statusCode: 413, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Request Entity Too Large' }) });
          return;
        }
        const match = route.pattern.exec(requestUrl.pathname)!;
        let pathParameters: Record<string, string> | undefined;
        if (match.groups?.userId !== undefined) {
          let userId = match.groups.userId;
          try {
            userId = decodeURIComponent(userId);
          } catch {
            // Left encoded: the handler's pattern check refuses it.
          }
          pathParameters = { userId };
        }
        const event = toApiGatewayEvent(request, requestUrl, route, body, pathParameters);
        // The functions' timeouts in lib/zoom-token-stack.ts; tests may shorten the admin one.
        const timeoutMs = route.handler === 'callback' ? 20_000 : Number(env.LOCAL_ADMIN_TIMEOUT_MS) || 29_000;
        const result = (await handlers[route.handler](event, lambdaContext(route.handler, timeoutMs))) as APIGatewayProxyStructuredResultV2;
        send(response, result);
        say(`${route.routeKey} -> ${result.statusCode}`);
      })().catch((error: unknown) => {
        console.error('local runtime: request failed:', error instanceof Error ? error.name : error);
        if (!response.headersSent) send(response, { statusCode: 500, headers: { 'content-type': 'text/plain' }, body: 'internal error' });
      });
    });
    closers.push(
      () =>
        new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done(undefined));
        }),
    );

    // The refresher on an interval, never two sweeps at once (reserved concurrency 1 in AWS).
    let sweeping: Promise<unknown> | undefined;
    const sweep = () => {
      sweeping ??= handlers.refresher({}, lambdaContext('refresher', 300_000)).finally(() => (sweeping = undefined));
      return sweeping;
    };
    const intervalSeconds = Number(env.REFRESH_INTERVAL_SECONDS?.trim() || 300);
    if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0) throw new Error('REFRESH_INTERVAL_SECONDS must be a number of seconds (0 turns the interval off)');
    if (intervalSeconds > 0) {
      const timer = setInterval(() => void sweep().catch((error: unknown) => console.error('sweep failed:', error instanceof Error ? error.name : error)), intervalSeconds * 1000);
      timer.unref();
      closers.push(async () => clearInterval(timer));
    }

    if (options.verbose) {
      say(`zoom-token-vault listening on ${url}`);
      say(`  callback:  GET ${url}/zoom/token?user_id=…&kid=…&sig=…`);
      say(`  admin:     ${url}/users/{userId}/zoom-credential  (Authorization: Bearer <ADMIN_TOKEN>)`);
      say(adminToken.created ? `  ADMIN_TOKEN (generated, saved in ${join(dataDir, 'admin-token')}): ${adminToken.value}` : env.ADMIN_TOKEN ? '  ADMIN_TOKEN: from the environment' : `  ADMIN_TOKEN: in ${join(dataDir, 'admin-token')}`);
      say(`  data:      ${dataDir}`);
      say(`  refresher: every ${intervalSeconds} s, window ${process.env.REFRESH_WINDOW_SECONDS} s`);
      if (fakeZoom) say(`  Zoom:      FAKE at ${fakeZoom.url} (set ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_TOKEN_URL for the real one); mint a grant: curl -X POST '${fakeZoom.url}/fake/authorize?zoom_user_id=demo'`);
      else say(`  Zoom:      ${process.env.ZOOM_TOKEN_URL ?? 'https://zoom.us/oauth/token'}`);
      if (fakeRecall) say(`  Recall:    FAKE at ${fakeRecall.url} (set RECALL_API_KEY and RECALL_ZOOM_OAUTH_APP_ID for the real one)`);
      else say(`  Recall:    ${process.env.RECALL_API_BASE_URL ?? 'https://us-east-1.recall.ai'}`);
    }

    return {
      url,
      port,
      adminToken: adminToken.value,
      dataDir,
      kms,
      dynamoEndpoint,
      fakeZoom,
      fakeRecall,
      sweep,
      close: async () => {
        await sweeping?.catch(() => undefined);
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

function pick(env: Record<string, string | undefined>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) if (env[name]?.trim()) out[name] = env[name]!.trim();
  return out;
}
