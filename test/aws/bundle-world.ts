/**
 * Everything a configuration's bundles meet in AWS, on loopback: dynalite and the KMS stand-in,
 * the Secrets Manager, SQS and EventBridge stand-ins holding the template's secrets, queues and
 * buses, the fake Zoom and Recall, and a gateway for the routes third parties call over HTTP
 * (Recall the callback, its bots the bot-token URLs, Zoom its events). Every AWS request a bundle makes is recorded, with the
 * calls the Lambda service makes with its role (logs, X-Ray, the SQS poller).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  ADMIN_ROUTE_KEYS,
  BOT_TOKEN_ROUTE_KEYS,
  CALLBACK_ROUTE_KEY,
  ENV,
  type FunctionName,
  splitRouteKey,
  ZOOM_EVENTS_ROUTE_KEY,
} from '../../functions/contract';
import { type Dynalite, startDynalite } from '../../local/dynamo';
import { DEFAULT_FAKE_RECALL_API_KEY, type FakeRecall, startFakeRecall } from '../../local/fakes/fake-recall';
import { DEFAULT_FAKE_ZOOM_CLIENT_SECRET, type FakeZoom, startFakeZoom } from '../../local/fakes/fake-zoom';
import { DEFAULT_KEY_ID, type KmsServer, startKmsServer } from '../../local/kms/kms-server';
import { FunctionContainer, lambdaEnvironment } from './bundles';
import type { Configuration } from './configurations';
import { deployedStack } from './contract-dir';
import { type HttpRequest, httpApiEvent } from './events';
import { lambdaServiceCalls } from './iam-check';
import { CallLog } from './recorder';
import {
  type EventBridgeStandIn,
  type SecretsManagerStandIn,
  type SqsStandIn,
  startEventBridge,
  startSecretsManager,
  startSqs,
} from './stand-ins';
import type { DeployedStack } from './template';

export const ZOOM_WEBHOOK_TOKEN = `zoom-webhook-${randomBytes(12).toString('hex')}`;
/** Recall's workspace verification secret: the fake Recall signs its calls with it, the token functions check them against it. */
export const RECALL_VERIFICATION_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/** The value of each secret a function is told to read (by the variable naming it). */
const SECRET_VALUES: Record<string, () => string> = {
  [ENV.signingKeysSecretId]: () => JSON.stringify({ active: 'k1', k1: randomBytes(48).toString('base64url') }),
  [ENV.recallApiKeySecretId]: () => DEFAULT_FAKE_RECALL_API_KEY,
  [ENV.zoomClientSecretSecretId]: () => DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
  [ENV.zoomWebhookSecretTokenSecretId]: () => ZOOM_WEBHOOK_TOKEN,
  [ENV.recallVerificationSecretSecretId]: () => RECALL_VERIFICATION_SECRET,
};

type HttpAnswer = { status: number; headers: Record<string, string>; body: string; json?: any };

interface Parts {
  dynalite: Dynalite;
  kms: KmsServer;
  secrets: SecretsManagerStandIn;
  sqs: SqsStandIn;
  events: EventBridgeStandIn;
  fakeZoom: FakeZoom;
  fakeRecall: FakeRecall;
}

export class BundleWorld {
  private readonly containers = new Map<FunctionName, Promise<FunctionContainer>>();
  private gateway?: { url: string; server: Server };
  /** Functions invoked at least once. */
  readonly invoked = new Set<FunctionName>();
  private readonly pastLogs: string[] = [];
  /** The secrets' values (the signing keys' material apart), for checking they are never logged. */
  readonly secretValues: string[] = [];

  private constructor(
    readonly configuration: Configuration,
    readonly stack: DeployedStack,
    readonly calls: CallLog,
    readonly parts: Parts,
  ) {}

  static async start(configuration: Configuration): Promise<BundleWorld> {
    const calls = new CallLog();
    const sqs = await startSqs(calls.observe);
    const stack = deployedStack(configuration, sqs.url);
    for (const url of stack.queueUrls) sqs.addQueue(url);
    const fakeZoom = await startFakeZoom();
    const parts: Parts = {
      sqs,
      dynalite: await startDynalite(undefined, { onRequest: calls.observe }),
      kms: await startKmsServer({ keyIds: [DEFAULT_KEY_ID], onRequest: calls.observe }),
      secrets: await startSecretsManager(calls.observe),
      events: await startEventBridge(['default', ...stack.eventBusNames], calls.observe),
      fakeZoom,
      // Signs its calls as Recall does with a workspace verification secret (checked only where the configuration says).
      fakeRecall: await startFakeRecall({
        verifyAccessToken: (token) => fakeZoom.verifyAccessToken(token),
        verificationSecret: RECALL_VERIFICATION_SECRET,
      }),
    };
    const world = new BundleWorld(configuration, stack, calls, parts);
    world.storeSecrets();
    world.gateway = await world.startGateway();
    return world;
  }

  /** Every secret the functions are told to read, with its value. */
  private storeSecrets(): void {
    for (const fn of this.stack.functions.values()) {
      for (const [name, value] of Object.entries(fn.environment)) {
        if (!name.endsWith('_SECRET_ID')) continue;
        const make = SECRET_VALUES[name];
        if (!make) throw new Error(`${fn.name}: the contract test has no value for the secret ${name} names`);
        const secret = make();
        this.parts.secrets.put(value, secret);
        this.secretValues.push(...((name === ENV.signingKeysSecretId ? Object.values(JSON.parse(secret)).slice(1) : [secret]) as string[]));
        // Recall's secret without its prefix too: the key itself.
        if (name === ENV.recallVerificationSecretSecretId) this.secretValues.push(secret.slice('whsec_'.length));
      }
    }
  }

  get gatewayUrl(): string {
    return this.gateway!.url;
  }

  private container(name: FunctionName): Promise<FunctionContainer> {
    let container = this.containers.get(name);
    if (!container) {
      const fn = this.stack.functions.get(name);
      if (!fn) throw new Error(`${this.configuration.name} deploys no ${name} function`);
      const env = lambdaEnvironment(
        fn,
        {
          dynamodb: this.parts.dynalite.endpoint,
          kms: this.parts.kms.url,
          sqs: this.parts.sqs.url,
          secretsManager: this.parts.secrets.url,
          eventBridge: this.parts.events.url,
        },
        // Not AWS's: Recall, Zoom, and the API's own URL (handed to Recall in callback URLs).
        {
          [ENV.recallApiBaseUrl]: this.parts.fakeRecall.url,
          [ENV.zoomTokenUrl]: this.parts.fakeZoom.tokenUrl,
          [ENV.zoomApiBaseUrl]: this.parts.fakeZoom.apiBaseUrl,
          [ENV.publicBaseUrl]: this.gatewayUrl,
        },
      );
      container = FunctionContainer.start(fn, env);
      this.containers.set(name, container);
    }
    return container;
  }

  /** One invocation of a function's bundle; the Lambda service's own calls with its role are recorded too. */
  async invoke<T = unknown>(name: FunctionName, event: unknown, options: { fromQueue?: string } = {}): Promise<T> {
    const container = await this.container(name);
    this.invoked.add(name);
    for (const call of lambdaServiceCalls(container.fn, options)) this.calls.add(call);
    return container.invoke<T>(event);
  }

  /** The function's next invocation starts a new container (a cold start, empty caches). */
  async recycle(name: FunctionName): Promise<void> {
    const container = await this.containers.get(name)?.catch(() => undefined);
    this.containers.delete(name);
    if (!container) return;
    this.pastLogs.push(`--- ${name} (recycled)\n${container.logs()}`);
    await container.close();
  }

  /** An admin API request as the IAM-authorized route delivers it (the backend signed it with SigV4). */
  async admin(method: string, path: string, options: Partial<HttpRequest> & { json?: unknown } = {}): Promise<HttpAnswer> {
    const routeKey = ADMIN_ROUTE_KEYS.find((key) => routePattern(key).test(`${method} ${path}`));
    if (!routeKey) throw new Error(`no admin route for ${method} ${path}`);
    const pathParameters = routePattern(routeKey).exec(`${method} ${path}`)?.groups;
    const body = options.json === undefined ? options.body : JSON.stringify(options.json);
    const event = httpApiEvent({
      routeKey,
      path,
      ...(pathParameters ? { pathParameters: { ...pathParameters } } : {}),
      ...options,
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json', ...options.headers } }),
      iamCaller: { accessKey: 'ASIAEXAMPLEBACKEND', userArn: `arn:aws:sts::000000000000:assumed-role/backend/backend` },
    });
    return answerOf(await this.invoke<APIGatewayProxyStructuredResultV2>('admin', event));
  }

  /** A gateway for the public routes, as API Gateway turns HTTP requests into events. */
  private async startGateway(): Promise<{ url: string; server: Server }> {
    const server = createServer((request, response) => {
      this.answerPublic(request, response).catch((error: Error) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: 'Internal Server Error', detail: error.message }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  }

  private async answerPublic(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.gatewayUrl);
    const routes: Array<[string, FunctionName]> = [
      [CALLBACK_ROUTE_KEY, 'callback'],
      ...BOT_TOKEN_ROUTE_KEYS.map((key): [string, FunctionName] => [key, 'bot-token']),
      [ZOOM_EVENTS_ROUTE_KEY, 'zoom-events'],
    ];
    const route = routes.find(([key]) => routePattern(key).test(`${request.method} ${url.pathname}`));
    if (!route || !this.stack.functions.has(route[1])) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"message":"Not Found"}');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, [value].flat().join(',')]));
    const event = httpApiEvent({
      routeKey: route[0],
      path: url.pathname,
      query: [...url.searchParams],
      headers,
      body: Buffer.concat(chunks),
      base64: !/json|text/.test(headers['content-type'] ?? ''),
    });
    const result = await this.invoke<APIGatewayProxyStructuredResultV2>(route[1], event);
    const answer = answerOf(result);
    response.writeHead(answer.status, { ...answer.headers, ...(result.cookies?.length ? { 'set-cookie': result.cookies } : {}) });
    response.end(answer.body);
  }

  /** What every container started wrote (its log lines). */
  async logs(): Promise<string> {
    const containers = await Promise.all([...this.containers.values()].map((container) => container.catch(() => undefined)));
    const live = containers.map((container) => (container ? `--- ${container.fn.name}\n${container.logs()}` : ''));
    return [...this.pastLogs, ...live].join('\n');
  }

  async close(): Promise<void> {
    for (const name of [...this.containers.keys()]) await this.recycle(name).catch(() => undefined);
    if (this.gateway) {
      this.gateway.server.closeAllConnections();
      await new Promise((resolve) => this.gateway!.server.close(resolve));
    }
    const { fakeRecall, fakeZoom, events, sqs, secrets, kms, dynalite } = this.parts;
    for (const part of [fakeRecall, fakeZoom, events, sqs, secrets, kms, dynalite]) await part.close();
  }
}

/** `PUT /users/{userId}/zoom-credential` → a pattern over `METHOD /path` capturing the parameters. */
function routePattern(routeKey: string): RegExp {
  const { method, path } = splitRouteKey(routeKey);
  const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(\w+)\\?\}/g, '(?<$1>[^/]+)');
  return new RegExp(`^${method} ${source}$`);
}

function answerOf(result: APIGatewayProxyStructuredResultV2): HttpAnswer {
  const body = result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]));
  let json: unknown;
  if (/json/.test(headers['content-type'] ?? '') && body) json = JSON.parse(body);
  return { status: result.statusCode ?? 200, headers, body, ...(json === undefined ? {} : { json }) };
}
