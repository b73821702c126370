/**
 * The local runtime: the Lambda handlers on one machine, with no AWS account.
 *
 * - dynalite (a DynamoDB-compatible server) persisted under DATA_DIR;
 * - the project's KMS stand-in, reached through the real @aws-sdk/client-kms;
 * - an HTTP server that turns requests into the API Gateway (HTTP API, payload 2.0) events the
 *   Lambdas receive in AWS and calls the same handlers, built by the same factories from an
 *   environment of its own: only the endpoints differ;
 * - the refresher on an interval, as EventBridge runs it in AWS;
 * - unless real ones are configured, the fake Recall and fake Zoom (demo mode).
 *
 * Nothing here touches the global process.env: several runtimes can run in one process.
 * Local-only: nothing here enters a Lambda bundle.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import type { APIGatewayProxyStructuredResultV2, Context, SQSBatchResponse } from 'aws-lambda';
import { type Env, integerEnv } from '../functions/config';
import { ENV, REFRESH_CONCURRENCY, TIMING } from '../functions/contract';
import { sameSecret } from '../functions/domain/signing';
import { makeAdminHandler } from '../functions/handlers/admin';
import { makeBotTokenHandler } from '../functions/handlers/bot-token';
import { makeCallbackHandler } from '../functions/handlers/callback';
import {
  adminDepsFromEnv,
  botTokenDepsFromEnv,
  callbackDepsFromEnv,
  dispatcherDepsFromEnv,
  recallHealthDepsFromEnv,
  workerDepsFromEnv,
  zoomEventsDepsFromEnv,
} from '../functions/handlers/composition';
import { makeRecallHealthHandler } from '../functions/handlers/recall-health';
import { makeZoomEventsHandler } from '../functions/handlers/zoom-events';
import type { RecallHealthSummary } from '../functions/domain/recall-health';
import { makeDispatcherHandler } from '../functions/handlers/dispatcher';
import { makeRefreshWorkerHandler } from '../functions/handlers/refresh-worker';
import { type FunctionName, gatewayAnswer, lambdaContext, matchRoute, pathParametersOf, send, toApiGatewayEvent } from './api-gateway';
import { type AwsRequestObserver, functionAccessKeyId } from './aws-requests';
import { type Dynalite, startDynalite, TABLE_NAME } from './dynamo';
import { DEFAULT_FAKE_RECALL_API_KEY, startFakeRecall, type FakeRecall } from './fakes/fake-recall';
import { DEFAULT_FAKE_ZOOM_CLIENT_ID, DEFAULT_FAKE_ZOOM_CLIENT_SECRET, startFakeZoom, type FakeZoom } from './fakes/fake-zoom';
import { startKmsServer, type KmsServer } from './kms/kms-server';
import { keepPrivate } from './private-dir';
import { LocalRefreshQueue } from './refresh-queue';

export const DEMO_OAUTH_APP_ID = '00000000-0000-4000-8000-00000000a001';
const KMS_KEY_ID = 'local-token-key';
/** Bodies larger than this are refused before any handler runs; the admin handler's own limit is far lower. */
const MAX_REQUEST_BYTES = 1024 * 1024;
/** Settings passed through to the handlers as given. */
const PASSED_THROUGH = [
  ENV.recallApiBaseUrl,
  ENV.recallApiKey,
  ENV.recallZoomOAuthAppId,
  ENV.recallTimeoutMs,
  ENV.recallBudgetMs,
  ENV.zoomTokenUrl,
  ENV.zoomApiBaseUrl,
  ENV.zoomClientId,
  ENV.zoomClientSecret,
  ENV.refreshConcurrency,
  'POWERTOOLS_LOG_LEVEL',
  ENV.refreshPolicy,
  ENV.adaptiveActiveDays,
  ENV.adaptiveKeepAliveHours,
  ENV.eventsWebhookUrl,
  ENV.zoomWebhookSecretToken,
  ENV.recallVerificationSecret,
  ENV.recallSignatureMode,
];

type Handler = (event: unknown, context: Context) => Promise<unknown>;
type Handlers = Record<Exclude<FunctionName, 'zoom-events'>, Handler> & { 'zoom-events'?: Handler };
type Closer = () => Promise<unknown>;

export interface LocalRuntimeOptions {
  /** Environment to run with (defaults to process.env): PORT, DATA_DIR, ADMIN_TOKEN, RECALL_*, ZOOM_*, … */
  env?: Env;
  /** Print the banner and request lines. */
  verbose?: boolean;
  /** Told about every AWS request a function makes (the AWS contract harness records them). */
  onAwsRequest?: AwsRequestObserver;
}

export interface LocalRuntime {
  url: string;
  port: number;
  adminToken: string;
  dataDir: string;
  kms: KmsServer;
  dynamoEndpoint: string;
  /** DynamoDB requests by operation (dynalite's count), for benchmarks. */
  dynamo: Pick<Dynalite, 'counts' | 'resetCounts'>;
  /** The environment the handlers were built from (as a Lambda's would be). */
  handlerEnv: Env;
  /** Present in demo mode. */
  fakeZoom?: FakeZoom;
  fakeRecall?: FakeRecall;
  /** The in-process refresh queue (SQS in AWS). */
  refreshQueue: LocalRefreshQueue;
  /** Runs one dispatch now (the interval runs them too) and waits until the workers are done with it. */
  sweep(): Promise<unknown>;
  /** Runs the Recall health check now (RECALL_HEALTH_INTERVAL_SECONDS runs it too). */
  checkRecallHealth(): Promise<RecallHealthSummary>;
  close(): Promise<void>;
}

async function ensureFile(path: string, create: () => string): Promise<{ value: string; created: boolean }> {
  if (existsSync(path)) return { value: (await readFile(path, 'utf8')).trim(), created: false };
  const value = create();
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return { value, created: true };
}

const NO_BODY = Buffer.alloc(0);

/** The request's body; most requests (every callback) carry none, and get no stream to drain. */
function readBody(request: IncomingMessage): Buffer | Promise<Buffer | 'too_large'> {
  if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) return NO_BODY;
  return readBodyStream(request);
}

async function readBodyStream(request: IncomingMessage): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return 'too_large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolvePort((server.address() as AddressInfo).port));
  });
}

/** dynalite and the KMS stand-in (persisted), the signing keys and the admin token: what AWS provides. */
async function startAwsStandIns(env: Env, dataDir: string, closers: Closer[], onRequest?: AwsRequestObserver) {
  const dynamo = await startDynalite(join(dataDir, 'dynamodb'), { onRequest });
  closers.push(() => dynamo.close());
  const kms = await startKmsServer({ keyFile: join(dataDir, 'kms-keys.json'), keyIds: [KMS_KEY_ID], onRequest });
  closers.push(() => kms.close());
  // Signing keys and the admin bearer token live in the data directory (Secrets Manager and IAM in AWS).
  const signingKeysFile = join(dataDir, 'signing-keys.json');
  await ensureFile(signingKeysFile, () => JSON.stringify({ active: 'k1', k1: randomBytes(48).toString('base64url') }));
  const adminToken = env.ADMIN_TOKEN?.trim()
    ? { value: env.ADMIN_TOKEN.trim(), created: false }
    : await ensureFile(join(dataDir, 'admin-token'), () => randomBytes(32).toString('base64url'));
  return { dynamo, kms, signingKeysFile, adminToken };
}

/**
 * Demo mode: fakes for whatever real service is not configured, beside the service's port
 * (fake Recall PORT+1, fake Zoom PORT+2), keeping their state in the data directory too.
 */
async function startDemoFakes(env: Env, dataDir: string, requestedPort: number, closers: Closer[]) {
  const fakePort = (offset: number) => (requestedPort === 0 ? 0 : requestedPort + offset);
  const demoEnv: Env = {};
  let fakeZoom: FakeZoom | undefined;
  let fakeRecall: FakeRecall | undefined;
  if (!env.ZOOM_CLIENT_ID?.trim()) {
    // FAKE_ZOOM_LATENCY_MS / FAKE_ZOOM_API_LATENCY_MS: every token / REST API request answered
    // this much later, as a real Zoom's round trip.
    const latencyMs = integerEnv('FAKE_ZOOM_LATENCY_MS', 0, { min: 0, max: 60_000 }, env);
    const apiLatencyMs = integerEnv('FAKE_ZOOM_API_LATENCY_MS', 0, { min: 0, max: 60_000 }, env);
    const zoom = await startFakeZoom({ port: fakePort(2), stateFile: join(dataDir, 'fake-zoom.json'), latencyMs, apiLatencyMs });
    closers.push(() => zoom.close());
    Object.assign(demoEnv, {
      ZOOM_TOKEN_URL: zoom.tokenUrl,
      [ENV.zoomApiBaseUrl]: zoom.apiBaseUrl,
      ZOOM_CLIENT_ID: DEFAULT_FAKE_ZOOM_CLIENT_ID,
      ZOOM_CLIENT_SECRET: DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
    });
    fakeZoom = zoom;
  }
  if (!env.RECALL_API_KEY?.trim()) {
    if (!fakeZoom)
      throw new Error('RECALL_API_KEY is unset: the fake Recall needs the fake Zoom too (unset ZOOM_CLIENT_ID), or set RECALL_API_KEY');
    const recall = await startFakeRecall({
      port: fakePort(1),
      verifyAccessToken: fakeZoom.verifyAccessToken,
      stateFile: join(dataDir, 'fake-recall.json'),
      // Recall signs every request once the workspace has a verification secret: so does the fake, with the service's.
      verificationSecret: env[ENV.recallVerificationSecret]?.trim() || undefined,
    });
    closers.push(() => recall.close());
    Object.assign(demoEnv, {
      RECALL_API_BASE_URL: recall.url,
      RECALL_API_KEY: DEFAULT_FAKE_RECALL_API_KEY,
      RECALL_ZOOM_OAUTH_APP_ID: DEMO_OAUTH_APP_ID,
    });
    fakeRecall = recall;
  }
  return { fakeZoom, fakeRecall, demoEnv };
}

/** The environment the stack would give the functions, pointing at the stand-ins. */
function handlerEnvironment(env: Env, url: string, aws: Awaited<ReturnType<typeof startAwsStandIns>>, demoEnv: Env): Env {
  const given: Env = {};
  for (const name of PASSED_THROUGH) if (env[name]?.trim()) given[name] = env[name]!.trim();
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamo.endpoint,
    AWS_ENDPOINT_URL_KMS: aws.kms.url,
    [ENV.tableName]: TABLE_NAME,
    [ENV.kmsKeyId]: aws.kms.keyArn(KMS_KEY_ID),
    [ENV.signingKeysFile]: aws.signingKeysFile,
    [ENV.dueShards]: env.DUE_SHARDS ?? '8',
    [ENV.publicBaseUrl]: env.PUBLIC_BASE_URL?.trim() || url,
    [ENV.refreshWindowSeconds]: env.REFRESH_WINDOW_SECONDS ?? '900',
    // CloudWatch metrics (EMF lines) mean nothing locally; POWERTOOLS_METRICS_DISABLED=false shows them.
    POWERTOOLS_METRICS_DISABLED: env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    ...given,
    ...demoEnv,
  };
}

/**
 * The functions, wired to one another through the in-process refresh queue as SQS wires them in
 * AWS. Zoom's events route only with ZOOM_WEBHOOK_SECRET_TOKEN set (else the route answers 404).
 * Each signs its AWS requests as itself (its own access key id, as each has its own role in AWS).
 */
function buildHandlers(handlerEnv: Env, refreshQueue: LocalRefreshQueue): Handlers {
  const envOf = (name: FunctionName): Env => ({ ...handlerEnv, AWS_ACCESS_KEY_ID: functionAccessKeyId(name) });
  const handlers: Handlers = {
    callback: makeCallbackHandler(callbackDepsFromEnv(envOf('callback'), { refreshQueue })) as unknown as Handler,
    'bot-token': makeBotTokenHandler(botTokenDepsFromEnv(envOf('bot-token'), { refreshQueue })) as unknown as Handler,
    admin: makeAdminHandler(adminDepsFromEnv(envOf('admin'), { refreshQueue })) as unknown as Handler,
    dispatcher: makeDispatcherHandler(dispatcherDepsFromEnv(envOf('dispatcher'), { refreshQueue })) as unknown as Handler,
    'refresh-worker': makeRefreshWorkerHandler(workerDepsFromEnv(envOf('refresh-worker'))) as unknown as Handler,
    'recall-health': makeRecallHealthHandler(recallHealthDepsFromEnv(envOf('recall-health'))) as unknown as Handler,
    ...(handlerEnv[ENV.zoomWebhookSecretToken]
      ? { 'zoom-events': makeZoomEventsHandler(zoomEventsDepsFromEnv(envOf('zoom-events'))) as unknown as Handler }
      : {}),
  };
  refreshQueue.attach(
    (event) => handlers['refresh-worker'](event, lambdaContext('refresh-worker', TIMING.workerTimeoutMs)) as Promise<SQSBatchResponse>,
  );
  return handlers;
}

interface Gateway {
  url: string;
  adminToken: string;
  /** The admin function's timeout; tests may shorten it. */
  adminTimeoutMs: number;
  say: (line: string) => void;
}

/** One request through the gateway to its handler, as API Gateway and Lambda do it. */
async function answerRequest(request: IncomingMessage, response: ServerResponse, handlers: Handlers, gateway: Gateway) {
  const requestUrl = new URL(request.url ?? '/', gateway.url);
  const route = matchRoute(request.method, requestUrl.pathname);
  if (route === 404 || route === 405) return send(response, gatewayAnswer(route, route === 404 ? 'Not Found' : 'Method Not Allowed'));
  if (route.handler === 'admin') {
    // In AWS the gateway checks a SigV4 signature (IAM); locally a bearer token stands in.
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!sameSecret(given, gateway.adminToken)) return send(response, gatewayAnswer(401, 'Unauthorized', { 'www-authenticate': 'Bearer' }));
  }
  const handler = handlers[route.handler];
  if (!handler) return send(response, gatewayAnswer(404, 'Not Found (set ZOOM_WEBHOOK_SECRET_TOKEN to enable Zoom events)'));
  const read = readBody(request);
  const body = Buffer.isBuffer(read) ? read : await read;
  if (body === 'too_large') return send(response, gatewayAnswer(413, 'Request Entity Too Large'));
  const event = toApiGatewayEvent(request, requestUrl, route, body, pathParametersOf(route, requestUrl.pathname));
  const timeoutMs = route.handler === 'callback' || route.handler === 'bot-token' ? TIMING.callbackTimeoutMs : gateway.adminTimeoutMs;
  const result = (await handler(event, lambdaContext(route.handler, timeoutMs))) as APIGatewayProxyStructuredResultV2;
  send(response, result);
  gateway.say(`${route.routeKey} -> ${result.statusCode}`);
}

/**
 * The HTTP server. It listens before the handlers exist (their configuration needs the port
 * when PORT=0), so a request that arrives meanwhile gets a 503 rather than silence.
 */
export function createGatewayServer(current: () => { handlers: Handlers; gateway: Gateway } | undefined): Server {
  const server = createServer((request, response) => {
    const ready = current();
    if (!ready) return send(response, gatewayAnswer(503, 'Service Unavailable: starting', { 'retry-after': '1' }));
    answerRequest(request, response, ready.handlers, ready.gateway).catch((error: unknown) => {
      console.error('local runtime: request failed:', error instanceof Error ? error.name : error);
      // A function that throws gets API Gateway's own answer in AWS, not one of the handler's.
      if (!response.headersSent) send(response, gatewayAnswer(500, 'Internal Server Error'));
    });
  });
  server.on('clientError', refuseUnparsable);
  return server;
}

/** What Node refuses before any route is matched, by error code (anything else: 400). */
const UNPARSABLE: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/**
 * A request Node cannot parse (request line and headers over its 16 KB, say) gets the gateway's
 * JSON `{"message"}` like its other refusals, instead of Node's empty answer.
 */
function refuseUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const [status, message] = UNPARSABLE[error.code ?? ''] ?? [400, 'Bad Request'];
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${message}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * The dispatcher on an interval, never two runs at once (reserved concurrency 1 in AWS). A
 * sweep is one dispatch and the workers' draining of what it handed out.
 */
function startRefresher(dispatcher: Handler, queue: LocalRefreshQueue, intervalSeconds: number, closers: Closer[]) {
  let sweeping: Promise<unknown> | undefined;
  const run = async () => {
    const summary = await dispatcher({}, lambdaContext('dispatcher', TIMING.refresherMaxTimeoutMs));
    await queue.drain();
    return summary;
  };
  const sweep = () => {
    sweeping ??= run().finally(() => (sweeping = undefined));
    return sweeping;
  };
  if (intervalSeconds > 0) {
    const timer = setInterval(
      () => void sweep().catch((error: unknown) => console.error('sweep failed:', error instanceof Error ? error.name : error)),
      intervalSeconds * 1000,
    );
    timer.unref();
    closers.push(async () => clearInterval(timer));
  }
  closers.push(async () => sweeping?.catch(() => undefined));
  return sweep;
}

/** The Recall health check on an interval (an hourly schedule in AWS), never two runs at once. */
function startRecallHealth(check: Handler, intervalSeconds: number, closers: Closer[]) {
  let running: Promise<RecallHealthSummary> | undefined;
  const run = () => {
    running ??= (check({}, lambdaContext('recall-health', 5 * 60_000)) as Promise<RecallHealthSummary>).finally(
      () => (running = undefined),
    );
    return running;
  };
  if (intervalSeconds > 0) {
    const timer = setInterval(
      () => void run().catch((error: unknown) => console.error('Recall health check failed:', error instanceof Error ? error.name : error)),
      intervalSeconds * 1000,
    );
    timer.unref();
    closers.push(async () => clearInterval(timer));
  }
  closers.push(async () => running?.catch(() => undefined));
  return run;
}

function parseSettings(env: Env) {
  const host = env.HOST?.trim() || '127.0.0.1';
  const port = Number(env.PORT?.trim() || 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be a port number');
  const intervalSeconds = Number(env.REFRESH_INTERVAL_SECONDS?.trim() || 300);
  if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0)
    throw new Error('REFRESH_INTERVAL_SECONDS must be a number of seconds (0 turns the interval off)');
  const healthIntervalSeconds = Number(env.RECALL_HEALTH_INTERVAL_SECONDS?.trim() || 3600);
  if (!Number.isFinite(healthIntervalSeconds) || healthIntervalSeconds < 0)
    throw new Error('RECALL_HEALTH_INTERVAL_SECONDS must be a number of seconds (0 turns the check off)');
  const adminTimeoutMs = Number(env.LOCAL_ADMIN_TIMEOUT_MS) || TIMING.adminTimeoutMs;
  const workerConcurrency = integerEnv(ENV.refreshConcurrency, REFRESH_CONCURRENCY.default, REFRESH_CONCURRENCY, env);
  // SQS redelivers a failed message after its visibility timeout; locally a short one keeps retries quick.
  const retryDelayMs = integerEnv('LOCAL_QUEUE_RETRY_MS', 2_000, { min: 10, max: 600_000 }, env);
  return {
    host,
    port,
    intervalSeconds,
    healthIntervalSeconds,
    adminTimeoutMs,
    workerConcurrency,
    retryDelayMs,
    dataDir: resolve(env.DATA_DIR?.trim() || '.data'),
  };
}

/**
 * The gateway listens before the handlers exist (their environment holds its URL, and the port may
 * be a free one); it answers 503 until `serve` hands it the handlers.
 */
async function startGateway(requestedPort: number, host: string, closers: Closer[]) {
  let ready: { handlers: Handlers; gateway: Gateway } | undefined;
  const server = createGatewayServer(() => ready);
  const port = await listen(server, requestedPort, host);
  closers.push(
    () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(done);
      }),
  );
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const serve = (handlersAndGateway: { handlers: Handlers; gateway: Gateway }) => {
    ready = handlersAndGateway;
  };
  return { port, url, serve };
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const env = options.env ?? process.env;
  const settings = parseSettings(env);
  const say = (line: string) => options.verbose && console.log(line);
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  await keepPrivate(settings.dataDir);
  const closers: Closer[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    const aws = await startAwsStandIns(env, settings.dataDir, closers, options.onAwsRequest);
    const { fakeZoom, fakeRecall, demoEnv } = await startDemoFakes(env, settings.dataDir, settings.port, closers);
    // What the stand-ins created at start (without npm start's umask: a runtime in a test, say).
    await keepPrivate(settings.dataDir);
    const { port, url, serve } = await startGateway(settings.port, settings.host, closers);
    const handlerEnv = handlerEnvironment(env, url, aws, demoEnv);
    const refreshQueue = new LocalRefreshQueue({ concurrency: settings.workerConcurrency, visibilityTimeoutMs: settings.retryDelayMs });
    closers.push(async () => refreshQueue.close());
    const handlers = buildHandlers(handlerEnv, refreshQueue);
    serve({ handlers, gateway: { url, adminToken: aws.adminToken.value, adminTimeoutMs: settings.adminTimeoutMs, say } });
    const sweep = startRefresher(handlers.dispatcher, refreshQueue, settings.intervalSeconds, closers);
    const checkRecallHealth = startRecallHealth(handlers['recall-health'], settings.healthIntervalSeconds, closers);
    if (options.verbose)
      printBanner({
        url,
        dataDir: settings.dataDir,
        intervalSeconds: settings.intervalSeconds,
        adminToken: aws.adminToken,
        fromEnv: Boolean(env.ADMIN_TOKEN),
        handlerEnv,
        fakeZoom,
        fakeRecall,
      });
    return {
      url,
      port,
      adminToken: aws.adminToken.value,
      dataDir: settings.dataDir,
      kms: aws.kms,
      dynamoEndpoint: aws.dynamo.endpoint,
      dynamo: aws.dynamo,
      handlerEnv,
      fakeZoom,
      fakeRecall,
      refreshQueue,
      sweep,
      checkRecallHealth,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function printBanner(b: {
  url: string;
  dataDir: string;
  intervalSeconds: number;
  adminToken: { value: string; created: boolean };
  fromEnv: boolean;
  handlerEnv: Env;
  fakeZoom?: FakeZoom;
  fakeRecall?: FakeRecall;
}): void {
  const lines = [
    `zoom-token-vault listening on ${b.url}`,
    `  callback:  GET ${b.url}/zoom/token?user_id=…&reg=…&kid=…&sig=…`,
    `  bot tokens: GET ${b.url}/zoom/{obf,zak,join-token}?user_id=…&reg=…&meeting_id=…&exp=…&kid=…&sig=… (issue them: POST /users/{userId}/zoom-credential/bot-token-urls)`,
    `  admin:     ${b.url}/users/{userId}/zoom-credential  (Authorization: Bearer <ADMIN_TOKEN>)`,
    b.adminToken.created
      ? `  ADMIN_TOKEN (generated, saved in ${join(b.dataDir, 'admin-token')}): ${b.adminToken.value}`
      : b.fromEnv
        ? '  ADMIN_TOKEN: from the environment'
        : `  ADMIN_TOKEN: in ${join(b.dataDir, 'admin-token')}`,
    `  data:      ${b.dataDir}`,
    b.handlerEnv[ENV.zoomWebhookSecretToken]
      ? `  Zoom events: POST ${b.url}/zoom/events (signed with ZOOM_WEBHOOK_SECRET_TOKEN)`
      : '  Zoom events: off (set ZOOM_WEBHOOK_SECRET_TOKEN)',
    recallSignaturesLine(b),
    `  events:    ${b.handlerEnv[ENV.eventsWebhookUrl] ? `POSTed to ${b.handlerEnv[ENV.eventsWebhookUrl]}` : 'not published (set EVENTS_WEBHOOK_URL)'}`,
    `  refresher: every ${b.intervalSeconds} s, window ${b.handlerEnv[ENV.refreshWindowSeconds]} s`,
    b.fakeZoom
      ? `  Zoom:      FAKE at ${b.fakeZoom.url} (set ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_TOKEN_URL for the real one); mint a grant: curl -X POST '${b.fakeZoom.url}/fake/authorize?zoom_user_id=demo'; a meeting: curl -X POST '${b.fakeZoom.url}/fake/meetings?host_zoom_user_id=demo'`
      : `  Zoom:      ${b.handlerEnv[ENV.zoomTokenUrl] ?? 'https://zoom.us/oauth/token'}`,
    b.fakeRecall
      ? `  Recall:    FAKE at ${b.fakeRecall.url} (set RECALL_API_KEY and RECALL_ZOOM_OAUTH_APP_ID for the real one)`
      : `  Recall:    ${b.handlerEnv[ENV.recallApiBaseUrl] ?? 'https://us-east-1.recall.ai'}`,
    readyLine(b),
  ];
  for (const line of lines) console.log(line);
}

/** Whether the public token routes check Recall's signature, and how to fetch a token as Recall then. */
function recallSignaturesLine(b: { handlerEnv: Env; fakeRecall?: FakeRecall }): string {
  if (!b.handlerEnv[ENV.recallVerificationSecret])
    return "  Recall signatures: not checked (set RECALL_VERIFICATION_SECRET to Recall's whsec_… secret)";
  const mode = b.handlerEnv[ENV.recallSignatureMode] ?? 'enforce';
  const asRecall = b.fakeRecall
    ? `; the fake Recall signs its calls; fetch a URL as Recall: curl -H 'Authorization: Token ${DEFAULT_FAKE_RECALL_API_KEY}' --data-urlencode 'url=<URL>' ${b.fakeRecall.url}/fake/call`
    : '';
  return `  Recall signatures: ${mode === 'report' ? 'reported, not enforced' : 'enforced'} (RECALL_VERIFICATION_SECRET)${asRecall}`;
}

/** The last line of the start-up: ready, and what to run next (with the flags this start needs). */
function readyLine(b: { url: string; dataDir: string; fakeZoom?: FakeZoom }): string {
  const flags = [
    ...(b.url === 'http://127.0.0.1:3000' ? [] : ['--url', b.url]),
    ...(b.dataDir === resolve('.data') ? [] : ['--data-dir', b.dataDir]),
  ];
  const cli = ['npx zoom-token-vault list', ...flags].join(' ');
  return b.fakeZoom
    ? `Ready. Next, in another terminal: register a demo user as README "Try it locally" shows, then: ${cli}`
    : `Ready. Next: register users from your backend (PUT ${b.url}/users/{userId}/zoom-credential), and see them with: ${cli}`;
}
