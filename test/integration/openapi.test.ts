/**
 * The admin API's OpenAPI document (openapi/admin-api.json):
 * (a) the committed file is what scripts/openapi.ts generates now from the handlers' schemas;
 * (b) it is a structurally valid OpenAPI 3.1 document (no validator package: checked here);
 * (c) its routes and status codes are exactly the ones the handlers answer: every documented
 *     (route, status) pair is produced, by a request through the local runtime where one can be
 *     made, otherwise by the admin handler itself with a dependency failing with the error that
 *     maps to the status; every answer's body matches the documented schema; nothing else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { ADMIN_ROUTE_KEYS, splitRouteKey, type AdminRouteKey } from '../../functions/contract';
import { ConflictError, NotFoundError, TokenUnavailableError, UnreadableRecordError } from '../../functions/domain/errors';
import { makeAdminHandler } from '../../functions/handlers/admin';
import {
  ADMIN_RESPONSES,
  ADMIN_SUCCESS_BODIES,
  ErrorBody,
  GATEWAY_STATUSES,
  GatewayErrorBody,
  type AccessTokenView,
  type BotTokenUrlsView,
  type UserDetailView,
  type UserPage as UserPageView,
  type UserStatusView,
} from '../../functions/handlers/admin-schemas';
import type { BotTokenUrls, UserDetail, UserStatus } from 'zoom-token-vault-client';
import type { AdminDeps } from '../../functions/handlers/composition';
import type { LocalRuntime } from '../../local/runtime';
import { lambdaContext } from '../../local/api-gateway';
import { buildAdminOpenApi, renderAdminOpenApi } from '../../scripts/openapi-document';
import { startTestRuntime } from '../support/test-runtime';

type Json = any;
const DOCUMENT_PATH = join(__dirname, '..', '..', 'openapi', 'admin-api.json');
const committed = (): Json => JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Every operation of the document as [route key, operation]. */
function operations(document: Json): Array<[string, Json]> {
  const out: Array<[string, Json]> = [];
  for (const [path, item] of Object.entries<Json>(document.paths)) {
    for (const method of METHODS) if (item[method]) out.push([`${method.toUpperCase()} ${path}`, item[method]]);
  }
  return out;
}

describe('(a) the committed document', () => {
  test('is exactly what `npm run openapi` generates now', () => {
    expect(readFileSync(DOCUMENT_PATH, 'utf8')).toBe(renderAdminOpenApi());
  });
});

test("the client's types accept the documented response shapes (a compile-time check)", () => {
  const view = {} as UserStatusView;
  const asClient: UserStatus = view;
  const page: { users: UserStatus[]; next_cursor: string | null } = {} as UserPageView;
  const token: { access_token: string; expires_at: string | null } = {} as AccessTokenView;
  const detail: UserDetail = {} as UserDetailView;
  const urls: BotTokenUrls['zoom'] = ({} as BotTokenUrlsView).zoom;
  expect([asClient, page, token, detail, urls]).toEqual([{}, {}, {}, {}, undefined]);
});

describe('(b) OpenAPI 3.1 structure', () => {
  const document = committed();

  /** Resolves a local JSON pointer ("#/components/schemas/X"). */
  function resolve(pointer: string): unknown {
    expect(pointer.startsWith('#/')).toBe(true);
    let node: Json = document;
    for (const raw of pointer.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
      node = node[key];
    }
    return node;
  }

  /** Every `$ref` anywhere in the document, with where it is. */
  function refs(node: unknown, at = '#'): Array<{ at: string; ref: string }> {
    if (node === null || typeof node !== 'object') return [];
    const out: Array<{ at: string; ref: string }> = [];
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push({ at, ref: value });
      else out.push(...refs(value, `${at}/${key}`));
    }
    return out;
  }

  test('version 3.1.x, info, servers, paths, components', () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof document.info.title).toBe('string');
    expect(typeof document.info.version).toBe('string');
    expect(document.info.license).toEqual({ name: 'MIT', identifier: 'MIT' });
    for (const server of document.servers) {
      expect(typeof server.url).toBe('string');
      for (const variable of server.url.match(/\{(\w+)\}/g) ?? [])
        expect(typeof server.variables[variable.slice(1, -1)].default).toBe('string');
    }
    expect(Object.keys(document.paths).length).toBeGreaterThan(0);
    for (const path of Object.keys(document.paths)) expect(path).toMatch(/^\//);
    expect(
      Object.keys(document).every(
        (key) =>
          [
            'openapi',
            'info',
            'jsonSchemaDialect',
            'servers',
            'paths',
            'webhooks',
            'components',
            'security',
            'tags',
            'externalDocs',
          ].includes(key) || key.startsWith('x-'),
      ),
    ).toBe(true);
  });

  test('every $ref resolves', () => {
    const all = refs(document);
    expect(all.length).toBeGreaterThan(0);
    for (const { at, ref } of all) expect([at, resolve(ref)]).toEqual([at, expect.anything()]);
  });

  test('every operation: a unique operationId, responses with descriptions, path parameters matching the template', () => {
    const ids = new Set<string>();
    for (const [routeKey, operation] of operations(document)) {
      expect(typeof operation.operationId).toBe('string');
      expect(ids.has(operation.operationId)).toBe(false);
      ids.add(operation.operationId);
      const responses = Object.entries<Json>(operation.responses ?? {});
      expect([routeKey, responses.length > 0]).toEqual([routeKey, true]);
      for (const [status, response] of responses) {
        expect(status).toMatch(/^([1-5][0-9X]{2}|default)$/);
        expect(typeof response.description).toBe('string');
        for (const media of Object.values<Json>(response.content ?? {})) expect(media.schema).toBeDefined();
      }
      const templated = (splitRouteKey(routeKey).path.match(/\{(\w+)\}/g) ?? []).map((name) => name.slice(1, -1)).sort();
      const parameters: Json[] = operation.parameters ?? [];
      for (const parameter of parameters) {
        expect(['query', 'header', 'path', 'cookie']).toContain(parameter.in);
        expect(typeof parameter.name).toBe('string');
        expect(parameter.schema ?? parameter.content).toBeDefined();
        if (parameter.in === 'path') expect(parameter.required).toBe(true);
      }
      expect(
        parameters
          .filter((parameter) => parameter.in === 'path')
          .map((parameter) => parameter.name)
          .sort(),
      ).toEqual(templated);
      if (operation.requestBody) expect(Object.keys(operation.requestBody.content).length).toBeGreaterThan(0);
    }
  });

  test('security: every requirement names a declared scheme; SigV4 (AWS) and bearer (local)', () => {
    const schemes = document.components.securitySchemes;
    for (const requirement of document.security) for (const name of Object.keys(requirement)) expect(schemes[name]).toBeDefined();
    expect(schemes.sigv4).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      'x-amazon-apigateway-authtype': 'awsSigv4',
    });
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const scheme of Object.values<Json>(schemes))
      expect(['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect']).toContain(scheme.type);
  });

  test('schemas are JSON Schema 2020-12 without per-schema dialect or id markers', () => {
    const TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];
    const visit = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return;
      const schema = node as Json;
      if ('type' in schema && typeof schema.type !== 'object') expect(TYPES).toContain(schema.type);
      if (Array.isArray(schema.type)) for (const type of schema.type) expect(TYPES).toContain(type);
      if (Array.isArray(schema.required)) for (const name of schema.required) expect(Object.keys(schema.properties ?? {})).toContain(name);
      for (const value of Object.values(schema)) visit(value);
    };
    for (const [name, schema] of Object.entries<Json>(document.components.schemas)) {
      expect([name, schema.$schema, schema.$id]).toEqual([name, undefined, undefined]);
      visit(schema);
    }
  });
});

describe('(c) routes and status codes are the ones the handlers answer', () => {
  const document = buildAdminOpenApi() as Json;

  test('the routes are the deployed admin routes; each route documents the handler codes and the gateway codes, no others', () => {
    expect(
      operations(document)
        .map(([routeKey]) => routeKey)
        .sort(),
    ).toEqual([...ADMIN_ROUTE_KEYS].sort());
    for (const [routeKey, operation] of operations(document)) {
      const expected = [...ADMIN_RESPONSES[routeKey as AdminRouteKey], ...GATEWAY_STATUSES].map(String).sort();
      expect([routeKey, Object.keys(operation.responses).sort()]).toEqual([routeKey, expected]);
    }
  });

  // ---- driving every pair
  let runtime: LocalRuntime;
  /** (route key, status) → how it was produced. */
  const produced = new Map<string, string>();
  const pair = (routeKey: string, status: number) => `${status} ${routeKey}`;
  const routeOf = (method: string, path: string) => {
    const pathname = path.split('?')[0];
    return ADMIN_ROUTE_KEYS.find((key) => {
      const route = splitRouteKey(key);
      return route.method === method && new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(pathname);
    })!;
  };

  /** Checks an answer's body against the document's schema for it, and records the pair. */
  function record(routeKey: AdminRouteKey, status: number, text: string, how: string): void {
    const json = text === '' ? undefined : JSON.parse(text);
    let schema: z.core.$ZodType | null;
    if (status < 300) schema = ADMIN_SUCCESS_BODIES[routeKey];
    else schema = (GATEWAY_STATUSES as readonly number[]).includes(status) ? GatewayErrorBody : ErrorBody;
    if (schema === null) expect(text).toBe('');
    else expect([routeKey, status, (schema as z.ZodMiniType).safeParse(json).success]).toEqual([routeKey, status, true]);
    produced.set(pair(routeKey, status), how);
  }

  async function call(
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; token?: string } = {},
  ): Promise<{ status: number; json: Json }> {
    const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.token ?? runtime.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body,
    });
    const text = await response.text();
    record(routeOf(method, path), response.status, text, 'local runtime');
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  }

  /** Uses up injected Recall failures the service did not consume. */
  async function drainRecallFailures(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const answer = await fetch(`${runtime.fakeRecall!.url}/api/v2/zoom-oauth-credentials/`, {
        headers: { authorization: 'Token test-recall-key' },
      });
      await answer.text();
      if (answer.status === 200) return;
    }
    throw new Error('fake Recall still failing');
  }

  beforeAll(async () => {
    runtime = await startTestRuntime({ RECALL_TIMEOUT_MS: '500', RECALL_BUDGET_MS: '800' });
  }, 30_000);

  afterAll(async () => {
    await runtime?.close();
  });

  test('through the local runtime', async () => {
    const zoom = runtime.fakeZoom!;
    const recall = runtime.fakeRecall!;
    const user = (id: string) => `/users/${id}/zoom-credential`;
    const expectStatus = async (answer: Promise<{ status: number }>, status: number) => expect((await answer).status).toBe(status);

    // Successes
    await expectStatus(call('PUT', user('oa-a'), { body: zoom.authorize('zoom-oa-a') }), 201);
    await expectStatus(call('PUT', user('oa-a'), { body: zoom.authorize('zoom-oa-a') }), 200);
    await expectStatus(call('GET', user('oa-a')), 200);
    await expectStatus(call('GET', `${user('oa-a')}/access-token`), 200);
    await expectStatus(call('POST', `${user('oa-a')}/recall-sync`), 200);
    const meeting = { meeting_id: '85746065432' };
    await expectStatus(call('POST', `${user('oa-a')}/bot-token-urls`, { body: { ...meeting, kinds: ['obf', 'zak'] } }), 200);
    await expectStatus(call('GET', '/users?status=active'), 200);
    // Refused requests, unknown users
    for (const key of ADMIN_ROUTE_KEYS) {
      const { method, path } = splitRouteKey(key);
      if (key === 'GET /users') await expectStatus(call(method, '/users?status=sleeping'), 400);
      else await expectStatus(call(method, path.replace('{userId}', 'not%20valid!'), method === 'PUT' ? { body: {} } : {}), 400);
      await expectStatus(
        call(method, path.replace('{userId}', 'oa-a'), { token: 'not-the-admin-token', ...(method === 'PUT' ? { body: {} } : {}) }),
        401,
      );
    }
    await expectStatus(call('PUT', user('oa-large'), { body: { ...zoom.authorize('zoom-oa-large'), scope: 'x'.repeat(17 * 1024) } }), 413);
    await expectStatus(call('GET', user('oa-nobody')), 404);
    await expectStatus(call('GET', `${user('oa-nobody')}/access-token`), 404);
    await expectStatus(call('POST', `${user('oa-nobody')}/recall-sync`), 404);
    await expectStatus(call('POST', `${user('oa-nobody')}/bot-token-urls`, { body: meeting }), 404);
    await expectStatus(call('POST', `${user('oa-a')}/bot-token-urls`, { body: { meeting_id: '123' } }), 400);
    await expectStatus(call('POST', `${user('oa-a')}/bot-token-urls`, { body: { ...meeting, pad: 'x'.repeat(17 * 1024) } }), 413);
    // A dead grant
    await expectStatus(call('PUT', user('oa-dead'), { body: zoom.authorize('zoom-oa-dead', { expiresInSeconds: 600 }) }), 201);
    zoom.revoke('zoom-oa-dead');
    await runtime.sweep();
    await expectStatus(call('GET', `${user('oa-dead')}/access-token`), 409);
    await expectStatus(call('POST', `${user('oa-dead')}/bot-token-urls`, { body: meeting }), 409);
    // Recall failing
    await expectStatus(call('PUT', user('oa-b'), { body: zoom.authorize('zoom-oa-b') }), 201);
    for (const request of [
      ['PUT', user('oa-c'), { body: zoom.authorize('zoom-oa-c') }],
      ['POST', `${user('oa-b')}/recall-sync`, {}],
      ['DELETE', user('oa-b'), {}],
    ] as const) {
      recall.failNext(20, { status: 500 });
      await expectStatus(call(request[0], request[1], request[2]), 502);
      await drainRecallFailures();
    }
    await expectStatus(call('DELETE', user('oa-a')), 204);
  }, 60_000);

  /** A valid body for each route that takes one, so the failing dependency is reached. */
  const REQUEST_BODIES: Partial<Record<AdminRouteKey, string>> = {
    'PUT /users/{userId}/zoom-credential': JSON.stringify({ access_token: 'a', refresh_token: 'r', expires_in: 3599 }),
    'POST /users/{userId}/zoom-credential/bot-token-urls': JSON.stringify({ meeting_id: '85746065432' }),
  };

  test('through the admin handler, a dependency failing with the error that maps to the status', async () => {
    // What a local request cannot provoke on demand: lost write races, a user deleted mid-registration,
    // an unreadable record, a refresh still under way when the answer is due.
    const scenarios: Array<[AdminRouteKey, number, Error]> = [
      ['PUT /users/{userId}/zoom-credential', 404, new NotFoundError('user deleted during registration')],
      ['PUT /users/{userId}/zoom-credential', 409, new ConflictError('lost')],
      ['DELETE /users/{userId}/zoom-credential', 409, new ConflictError('lost')],
      ['POST /users/{userId}/zoom-credential/recall-sync', 409, new ConflictError('lost')],
      [
        'GET /users/{userId}/zoom-credential/access-token',
        503,
        new TokenUnavailableError('refresh_in_progress', 'no access token with enough validity left'),
      ],
      ...ADMIN_ROUTE_KEYS.map((key): [AdminRouteKey, number, Error] => [key, 500, new UnreadableRecordError('cannot open')]),
    ];
    for (const [routeKey, status, error] of scenarios) {
      // Every dependency (store, cipher, Recall, keys, queue) fails with `error`.
      const failing = new Proxy({}, { get: (_target, name) => (name === 'then' ? undefined : async () => Promise.reject(error)) });
      const logger = new Logger({ logLevel: 'SILENT' });
      const undocumented = jest.spyOn(logger, 'error');
      const deps = {
        logger,
        metrics: new Metrics({ namespace: 'test', serviceName: 'test' }),
        publishMetrics: false,
        store: failing,
        cipher: failing,
        zoom: failing,
        refreshQueue: failing,
        signingKeys: failing,
        recallUntil: () => failing,
        clock: Date.now,
        callbackUrl: 'http://127.0.0.1/zoom/token',
        oauthAppId: 'app',
      } as unknown as AdminDeps;
      const handler = makeAdminHandler(deps);
      const { method } = splitRouteKey(routeKey);
      const event = {
        routeKey,
        pathParameters: routeKey === 'GET /users' ? undefined : { userId: 'oa-handler' },
        queryStringParameters: routeKey === 'GET /users' ? { status: 'active' } : undefined,
        body: REQUEST_BODIES[routeKey],
        isBase64Encoded: false,
        headers: {},
        requestContext: { requestId: 'r', http: { method } },
      } as unknown as APIGatewayProxyEventV2;
      const answer = await handler(event, lambdaContext('admin', 29_000));
      expect([routeKey, answer.statusCode]).toEqual([routeKey, status]);
      record(routeKey, answer.statusCode, answer.body ?? '', `handler: ${error.name}`);
      expect(undocumented.mock.calls.filter(([message]) => String(message).includes('does not document'))).toEqual([]);
    }
  });

  test('every documented handler status was produced, and nothing undocumented (gateway codes: 401 locally; 403 and 429 come from API Gateway in AWS only)', () => {
    const documented = new Set<string>();
    for (const key of ADMIN_ROUTE_KEYS) for (const status of ADMIN_RESPONSES[key]) documented.add(pair(key, status));
    const handlerPairs = [...produced.keys()].filter((key) => !key.startsWith('401 '));
    expect(new Set(handlerPairs)).toEqual(documented);
    for (const key of ADMIN_ROUTE_KEYS) expect(produced.has(pair(key, 401))).toBe(true);
  });
});
