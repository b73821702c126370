/**
 * The admin API's OpenAPI 3.1 document, generated from the zod schemas the handlers validate
 * with and the status codes they answer (functions/handlers/admin-schemas.ts), and the routes the
 * stack deploys (functions/contract.ts). Only prose is written here. scripts/openapi.ts writes it
 * to openapi/admin-api.json; test/integration/openapi.test.ts checks the committed file is this.
 */
import * as z from 'zod/mini';
import { ADMIN_ROUTE_KEYS, splitRouteKey, type AdminRouteKey } from '../functions/contract';
import {
  ADMIN_RESPONSES,
  ADMIN_SUCCESS_BODIES,
  BotTokenUrlsBody,
  ErrorBody,
  GATEWAY_STATUSES,
  GatewayErrorBody,
  ListQuery,
  MAX_BODY_BYTES,
  UserIdParam,
  ZoomTokenBody,
} from '../functions/handlers/admin-schemas';
import { version } from '../package.json';

type Json = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** A schema's component id (`z.meta({ id })`). */
function idOf(schema: z.core.$ZodType): string {
  const id = z.globalRegistry.get(schema)?.id;
  if (typeof id !== 'string') throw new Error('a documented schema has no id');
  return id;
}

/**
 * Conversion options. `input`: what the schemas accept, so objects stay open (requests: unknown
 * fields are ignored; responses: fields may be added). A date-time is documented by its format;
 * zod's long regex for it adds nothing a reader or a generator needs.
 */
const CONVERSION = {
  io: 'input',
  override: (ctx: { jsonSchema: Json }) => {
    if (ctx.jsonSchema.format === 'date-time') delete ctx.jsonSchema.pattern;
  },
} as const;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) for one schema, without the `$schema` marker. */
function jsonSchema(schema: z.core.$ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, CONVERSION) as Json;
  return rest;
}

/** Every named schema (`z.meta({ id })`) as a component; references between them point into components. */
function components(): Record<string, Json> {
  const all = z.toJSONSchema(z.globalRegistry, { ...CONVERSION, uri: (id) => `#/components/schemas/${id}` }).schemas as Record<
    string,
    Json
  >;
  const out: Record<string, Json> = {};
  for (const id of Object.keys(all).sort()) {
    const { $schema: _dialect, $id: _id, ...schema } = all[id];
    out[id] = schema;
  }
  return out;
}

const OPERATIONS: Record<AdminRouteKey, { operationId: string; summary: string; description: string }> = {
  'GET /users': {
    operationId: 'listUsers',
    summary: 'Users in one state, a page at a time',
    description:
      'Read from an index on the state (never a table scan). A page may hold fewer than `limit` users while more follow: continue with `cursor` until `next_cursor` is null.',
  },
  'PUT /users/{userId}/zoom-credential': {
    operationId: 'registerUser',
    summary: "Store a user's Zoom tokens and register the user with Recall",
    description:
      "Stores the tokens encrypted, then makes sure Recall has a credential calling the user's signed URL. `201` the first time, `200` after. A PUT whose refresh token the service already holds or has used is a replay: it writes no tokens and only completes the Recall step, so repeating a PUT is safe. A `502` leaves the tokens stored and `status: recall_failed`; the same PUT again finishes the job.",
  },
  'GET /users/{userId}/zoom-credential': {
    operationId: 'getUser',
    summary: "A user's status",
    description:
      'Status, expiry, Recall credential id, last refresh, last error, and the bot tokens the grant can mint (with the scopes Zoom named). Never a token.',
  },
  'DELETE /users/{userId}/zoom-credential': {
    operationId: 'deleteUser',
    summary: 'Delete a user',
    description: 'Deletes the credential at Recall, then the record (the ciphertext with it). `204` also when the user is already gone.',
  },
  'GET /users/{userId}/zoom-credential/access-token': {
    operationId: 'getAccessToken',
    summary: "A fresh access token for the user's Zoom API calls",
    description: "The stored access token under the callback's freshness rule (refreshed first when close to expiry).",
  },
  'POST /users/{userId}/zoom-credential/recall-sync': {
    operationId: 'syncRecallCredential',
    summary: 'The Recall step alone, with the stored tokens',
    description:
      'After a signing-key rotation (the credential must call a URL signed with the new key), or when Recall lost the credential.',
  },
  'POST /users/{userId}/zoom-credential/bot-token-urls': {
    operationId: 'issueBotTokenUrls',
    summary: "Signed OBF, ZAK and join-token URLs for one meeting, for Recall's Create Bot request",
    description:
      "Answers Recall's Create Bot `zoom` object (`obf_token_url`, `zak_url`, `join_token_url`: the kinds asked for only). Recall's bot calls each URL just before it joins (and again on each retry); each call mints a new single-use token at Zoom with the user's vaulted access token. A URL works for its kind, user, registration and meeting only, until `expires_at`; a new registration of the user ends it. The URLs hold no token, but mint tokens: keep them like credentials. See docs/bot-tokens.md.",
  },
};

const STATUS_DESCRIPTIONS: Record<number, string> = {
  200: 'OK',
  201: 'Created: the first registration of this user',
  204: 'Done (also when the user was already gone)',
  400: 'The request was refused; `field` names what was wrong',
  401: 'Local runtime: missing or wrong bearer token (from the gateway)',
  403: 'AWS: no valid SigV4 signature, or the caller may not `execute-api:Invoke` the route (from the gateway)',
  404: 'No such user',
  409: 'Another request kept changing the same user (`concurrent_update`); try again',
  413: `The body exceeds ${MAX_BODY_BYTES} bytes`,
  429: "AWS: the admin routes' throttle (from the gateway); retry with backoff",
  500: 'Internal error (`internal_error`)',
  502: "An upstream (`recall_error`, `zoom_error`) failed after the service's retries; `upstream_status` and `upstream_detail` are its words",
  503: 'No token right now (`refresh_failed`, `refresh_in_progress`): a refresh failed or is under way; retry',
};

const ROUTE_STATUS_DESCRIPTIONS: Partial<Record<AdminRouteKey, Record<number, string>>> = {
  'PUT /users/{userId}/zoom-credential': {
    200: 'Updated: the user was registered before (the Recall credential is kept, or recreated if Recall lost it)',
    404: 'The user was deleted while this registration ran',
    502: 'Recall failed after retries: the tokens are stored, `status: recall_failed`; the same PUT again finishes the job',
  },
  'GET /users/{userId}/zoom-credential/access-token': {
    409: 'The user must re-authorize with Zoom (`reauth_required`); then PUT the new token response',
  },
  'POST /users/{userId}/zoom-credential/bot-token-urls': {
    409: "The user's grant is dead (`reauth_required`) or removed (`deauthorized`), or lacks the scope a kind asked for needs (`scope_missing`, named in `message`; the user must authorize the app again with it)",
  },
};

/** The routes that take a JSON body, and its schema. */
const REQUEST_BODIES: Partial<Record<AdminRouteKey, z.core.$ZodType>> = {
  'PUT /users/{userId}/zoom-credential': ZoomTokenBody,
  'POST /users/{userId}/zoom-credential/bot-token-urls': BotTokenUrlsBody,
};

function parameters(routeKey: AdminRouteKey): Json[] {
  const { path } = splitRouteKey(routeKey);
  const out: Json[] = [];
  if (path.includes('{userId}')) {
    const { description, ...schema } = jsonSchema(UserIdParam);
    out.push({ name: 'userId', in: 'path', required: true, description, schema });
  }
  if (routeKey === 'GET /users') {
    const query = jsonSchema(ListQuery) as { properties: Record<string, Json>; required?: string[] };
    for (const [name, property] of Object.entries(query.properties)) {
      const { description, ...schema } = property;
      out.push({ name, in: 'query', required: (query.required ?? []).includes(name), description, schema });
    }
  }
  return out;
}

function responses(routeKey: AdminRouteKey): Record<string, Json> {
  const out: Record<string, Json> = {};
  const statuses = [...ADMIN_RESPONSES[routeKey], ...GATEWAY_STATUSES].sort((a, b) => a - b);
  for (const status of statuses) {
    const description = ROUTE_STATUS_DESCRIPTIONS[routeKey]?.[status] ?? STATUS_DESCRIPTIONS[status];
    if (!description) throw new Error(`no description for ${status}`);
    let body: z.core.$ZodType | null;
    if (status < 300) body = ADMIN_SUCCESS_BODIES[routeKey];
    else body = (GATEWAY_STATUSES as readonly number[]).includes(status) ? GatewayErrorBody : ErrorBody;
    out[String(status)] = { description, ...(body ? { content: { 'application/json': { schema: ref(idOf(body)) } } } : {}) };
  }
  return out;
}

export function buildAdminOpenApi(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const routeKey of ADMIN_ROUTE_KEYS) {
    const { method, path } = splitRouteKey(routeKey);
    const operation: Json = { ...OPERATIONS[routeKey], tags: ['admin'], parameters: parameters(routeKey) };
    const body = REQUEST_BODIES[routeKey];
    if (body) {
      operation.requestBody = {
        required: true,
        description: `At most ${MAX_BODY_BYTES} bytes.`,
        content: { 'application/json': { schema: ref(idOf(body)) } },
      };
    }
    operation.responses = responses(routeKey);
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'zoom-token-vault admin API',
      version,
      description:
        "For your backend only: store a user's Zoom tokens, register the user with Recall.ai, read statuses and access tokens. Generated from the handlers' own schemas (`npm run openapi`). In AWS the routes use IAM authorization (SigV4, service `execute-api`); the local runtime uses a bearer token.",
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [
      {
        url: '{apiUrl}',
        description: 'The stack output `ApiUrl` (SigV4)',
        variables: { apiUrl: { default: 'https://example.execute-api.us-east-1.amazonaws.com' } },
      },
      { url: 'http://127.0.0.1:3000', description: 'The local runtime, `npm start` (bearer token from DATA_DIR/admin-token)' },
    ],
    security: [{ sigv4: [] }, { bearer: [] }],
    tags: [{ name: 'admin', description: 'The admin API' }],
    paths,
    components: {
      schemas: components(),
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            "AWS Signature Version 4 (service `execute-api`, the stack's region), as the HTTP API's IAM authorization expects: `Authorization`, `X-Amz-Date` and, with temporary credentials, `X-Amz-Security-Token`. The identity needs `execute-api:Invoke` on the stack output `AdminApiInvokeArn`.",
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The local runtime only: the token in DATA_DIR/admin-token (or ADMIN_TOKEN).',
        },
      },
    },
  };
}

/** The document as committed: two-space JSON and a final newline. */
export function renderAdminOpenApi(): string {
  return `${JSON.stringify(buildAdminOpenApi(), null, 2)}\n`;
}
