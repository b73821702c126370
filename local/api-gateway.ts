/**
 * What API Gateway (HTTP API, payload format 2.0) and the Lambda service do in front of the
 * handlers, done locally: route matching, the event, the invocation context, the answer.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  ADMIN_ROUTE_KEYS,
  BOT_TOKEN_ROUTE_KEYS,
  CALLBACK_ROUTE_KEY,
  type FunctionName,
  splitRouteKey,
  ZOOM_EVENTS_ROUTE_KEY,
} from '../functions/contract';

export type { FunctionName } from '../functions/contract';

export interface Route {
  method: string;
  pattern: RegExp;
  routeKey: string;
  handler: 'callback' | 'bot-token' | 'admin' | 'zoom-events';
}

function route(routeKey: string, handler: Route['handler']): Route {
  const { method, path } = splitRouteKey(routeKey);
  // "/users/{userId}/…" → a pattern capturing the path parameter, as the gateway does.
  const source = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, '(?<$1>[^/]+)');
  return { method, pattern: new RegExp(`^${source}$`), routeKey, handler };
}

/** The HTTP API's routes, from the list the stack deploys. */
export const ROUTES: Route[] = [
  route(CALLBACK_ROUTE_KEY, 'callback'),
  // Public like the callback: the HMAC in the URL authenticates them (checked by their own function).
  ...BOT_TOKEN_ROUTE_KEYS.map((key) => route(key, 'bot-token')),
  // Public: Zoom's own signature authenticates it (checked by the handler over the raw body).
  route(ZOOM_EVENTS_ROUTE_KEY, 'zoom-events'),
  ...ADMIN_ROUTE_KEYS.map((key) => route(key, 'admin')),
];

/** The routes matching each path without a parameter, found once: most requests (every callback) name one. */
const ROUTES_OF_STATIC_PATHS = new Map<string, Route[]>();
for (const { routeKey } of ROUTES) {
  const { path } = splitRouteKey(routeKey);
  const matching = ROUTES.filter((candidate) => candidate.pattern.test(path));
  if (!path.includes('{')) ROUTES_OF_STATIC_PATHS.set(path, matching);
}

/** The route for a request, or the gateway's own answer (404 unknown path, 405 wrong method). */
export function matchRoute(method: string | undefined, pathname: string): Route | 404 | 405 {
  const candidates = ROUTES_OF_STATIC_PATHS.get(pathname) ?? ROUTES.filter((candidate) => candidate.pattern.test(pathname));
  return candidates.find((candidate) => candidate.method === method) ?? (candidates.length ? 405 : 404);
}

/** Path parameters as the gateway passes them: URL-decoded (left encoded when malformed; the handler refuses them). */
export function pathParametersOf(route: Route, pathname: string): Record<string, string> | undefined {
  const groups = route.pattern.exec(pathname)?.groups;
  if (!groups) return undefined;
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(groups)) {
    try {
      decoded[name] = decodeURIComponent(value);
    } catch {
      decoded[name] = value;
    }
  }
  return decoded;
}

/** The invocation context the Lambda runtime hands a handler; its methods on the prototype, not made per invocation. */
class LocalContext implements Context {
  readonly functionVersion = '$LATEST';
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB = '512';
  readonly awsRequestId = randomUUID();
  readonly logGroupName: string;
  readonly logStreamName = 'local';
  callbackWaitsForEmptyEventLoop = false;

  readonly #deadline: number;

  constructor(
    readonly functionName: FunctionName,
    deadline: number,
  ) {
    this.#deadline = deadline;
    this.invokedFunctionArn = `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`;
    this.logGroupName = `/local/${functionName}`;
  }

  getRemainingTimeInMillis(): number {
    return Math.max(0, this.#deadline - Date.now());
  }

  done(): void {}
  fail(): void {}
  succeed(): void {}
}

export function lambdaContext(functionName: FunctionName, timeoutMs: number): Context {
  return new LocalContext(functionName, Date.now() + timeoutMs);
}

/** An API Gateway HTTP API (payload format 2.0) event, built the way the gateway builds it. */
export function toApiGatewayEvent(
  request: IncomingMessage,
  url: URL,
  route: Route,
  body: Buffer,
  pathParameters?: Record<string, string>,
): APIGatewayProxyEventV2 {
  // Node gives header names in lower case, as the gateway passes them.
  const headers: Record<string, string> = {};
  for (const name in request.headers) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // The gateway joins repeated query parameters with commas.
  const query: Record<string, string> = {};
  if (url.search)
    for (const [name, value] of url.searchParams) query[name] = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
  const isText = body.length === 0 || /json|text/.test(headers['content-type'] ?? '');
  const now = Date.now();
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
      http: {
        method: route.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body: body.length ? (isText ? body.toString('utf8') : body.toString('base64')) : undefined,
    isBase64Encoded: body.length > 0 && !isText,
  };
}

export function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
  response.end(result.body ?? '');
}

/** The gateway's own JSON answers (`{"message": …}`), for what never reaches a handler. */
export function gatewayAnswer(
  statusCode: number,
  message: string,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ message }) };
}
