/**
 * The admin API's shapes, written once: the request schemas the handlers validate with
 * (./admin-requests.ts), the response schemas the handlers' answers are typed by (./admin.ts),
 * and which status codes each route answers. scripts/openapi.ts generates the OpenAPI document
 * (openapi/admin-api.json) from exactly these, so the document cannot drift from the handlers.
 *
 * zod/mini (tree-shakable; the classic API would double the admin bundle). `z.meta({ id })`
 * names a component of the OpenAPI document; `z.describe` documents a field.
 */
import * as z from 'zod/mini';
import { type AdminRouteKey, BOT_TOKEN_KINDS, type BotTokenKind } from '../contract';
import { MEETING_ID_PATTERN, USER_ID_PATTERN } from '../domain/signing';
import { RECALL_STATUSES, USER_STATES, USER_STATUSES, type UserState } from '../domain/token-record';

export { MEETING_ID_PATTERN, USER_ID_PATTERN };

/** Zoom's token response is about 1 KB; anything far larger is not one. */
export const MAX_BODY_BYTES = 16 * 1024;
/** A token that expires sooner than this cannot be served to Recall or validated by it. */
export const MIN_EXPIRES_IN_SECONDS = 1;
export const MAX_EXPIRES_IN_SECONDS = 24 * 3600;
/** Page sizes of `GET /users`. */
export const LIST_LIMIT = { min: 1, max: 100, default: 50 } as const;
/** How long bot-token URLs work: a minute to a week, a day unless asked (a bot may wait long for its host). */
export const BOT_TOKEN_URL_VALIDITY_SECONDS = { min: 60, max: 7 * 24 * 3600, default: 24 * 3600 } as const;
/** The field of Recall's Create Bot `zoom` object each kind's URL goes in. */
export const RECALL_BOT_TOKEN_FIELDS = { obf: 'obf_token_url', zak: 'zak_url', join_token: 'join_token_url' } as const satisfies Record<
  BotTokenKind,
  string
>;
/** An opaque `GET /users` cursor (base64url of the last user id read). */
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;

// ---------------------------------------------------------------------------------------------
// Requests

/** The `{userId}` path parameter. */
export const UserIdParam = z
  .string()
  .check(
    z.regex(USER_ID_PATTERN),
    z.describe('Your id for the user (not Zoom\'s): a letter or digit, then letters, digits, ".", "_" or "-"; at most 128 characters.'),
  );

const token = z.string().check(z.trim(), z.minLength(1), z.maxLength(4096));

/** Zoom's own token response, as the app backend received it from Zoom. Unknown fields are ignored. */
export const ZoomTokenBody = z
  .object({
    access_token: token.check(z.describe('Zoom access token.')),
    refresh_token: token.check(z.describe('Zoom refresh token.')),
    expires_in: z.optional(
      z
        .number()
        .check(
          z.int(),
          z.minimum(MIN_EXPIRES_IN_SECONDS),
          z.maximum(MAX_EXPIRES_IN_SECONDS),
          z.describe('Seconds until the access token expires (Zoom: 3599). Exactly one of expires_in and expires_at.'),
        ),
    ),
    expires_at: z.optional(
      z.iso
        .datetime({ offset: true })
        .check(
          z.describe(
            'When the access token expires, ISO 8601 with a time zone; in the future and within 24 hours. Exactly one of expires_in and expires_at.',
          ),
        ),
    ),
    scope: z.optional(z.string().check(z.maxLength(4096))),
    token_type: z.optional(z.string().check(z.maxLength(32))),
  })
  .check(
    z.refine((body) => (body.expires_in === undefined) !== (body.expires_at === undefined), {
      message: 'exactly one of expires_in and expires_at must be given',
      path: ['expires_in'],
    }),
    z.meta({
      id: 'ZoomTokenResponse',
      description: "Zoom's token response, passed whole as your backend received it from Zoom (unknown fields are ignored).",
    }),
  );

/** `GET /users` query parameters. `limit` stays a string here: its range is checked after, naming the range. */
export const ListQuery = z.object({
  status: z.enum(USER_STATES as [UserState, ...UserState[]]).check(z.describe('The state whose users to list.')),
  limit: z.optional(
    z
      .string()
      .check(
        z.regex(/^[0-9]{1,3}$/),
        z.describe(
          `Page size, ${LIST_LIMIT.min}–${LIST_LIMIT.max} (default ${LIST_LIMIT.default}). A page may hold fewer users while more follow: continue until next_cursor is null.`,
        ),
      ),
  ),
  cursor: z.optional(z.string().check(z.regex(CURSOR_PATTERN), z.describe('next_cursor of the previous page.'))),
});

const botTokenKind = z.enum(BOT_TOKEN_KINDS as unknown as [BotTokenKind, ...BotTokenKind[]]);

/** `POST …/bot-token-urls`: which URLs, for which meeting, for how long. */
export const BotTokenUrlsBody = z
  .object({
    meeting_id: z
      .string()
      .check(z.regex(MEETING_ID_PATTERN), z.describe('The Zoom meeting number the bot joins: 9 to 12 digits, no spaces.')),
    kinds: z._default(
      z.array(botTokenKind).check(
        z.minLength(1),
        z.maxLength(BOT_TOKEN_KINDS.length),
        z.refine((kinds) => new Set(kinds).size === kinds.length, { message: 'must not repeat a kind' }),
        z.describe(
          'The URLs to issue: `obf` (an OBF token, which Zoom requires since March 2026 for bots joining meetings outside your account), `zak` (the user\'s ZAK: a signed-in bot), `join_token` (a local-recording join token; the user must host the meeting). Default `["obf"]`.',
        ),
      ),
      ['obf'],
    ),
    valid_for_seconds: z._default(
      z
        .number()
        .check(
          z.int(),
          z.minimum(BOT_TOKEN_URL_VALIDITY_SECONDS.min),
          z.maximum(BOT_TOKEN_URL_VALIDITY_SECONDS.max),
          z.describe(
            `How long the URLs work, ${BOT_TOKEN_URL_VALIDITY_SECONDS.min} s to 7 days (default ${BOT_TOKEN_URL_VALIDITY_SECONDS.default}): long enough for the bot's whole wait for its host, since every retry of its join calls its URL again.`,
          ),
        ),
      BOT_TOKEN_URL_VALIDITY_SECONDS.default,
    ),
  })
  .check(z.meta({ id: 'BotTokenUrlsRequest', description: 'Which bot-token URLs to issue for one Zoom meeting.' }));

// ---------------------------------------------------------------------------------------------
// Responses

const timestamp = z.iso.datetime();

export const ErrorNote = z
  .object({ at: z.nullable(timestamp), code: z.string(), message: z.string() })
  .check(z.meta({ id: 'ErrorNote', description: "What went wrong last, in Zoom's or Recall's words (never a token)." }));

/** A user's state (./admin.ts `statusView`). Never a token. */
export const UserStatusView = z
  .object({
    user_id: z.string(),
    status: z
      .enum(USER_STATES as [UserState, ...UserState[]])
      .check(z.describe('One word: can Recall get a token for this user right now, and if not, why.')),
    token_status: z.enum(USER_STATUSES),
    access_token_expires_at: z.nullable(timestamp),
    recall_status: z.enum(RECALL_STATUSES),
    recall_credential_id: z.nullable(z.string()),
    recall_last_error: z.nullable(ErrorNote),
    last_refresh_at: z.nullable(timestamp),
    last_error: z.nullable(ErrorNote),
    reauth_required: z.nullable(ErrorNote),
    created_at: z.nullable(timestamp),
    updated_at: z.nullable(timestamp),
  })
  .check(z.meta({ id: 'UserStatus', description: "A user's state as the admin API shows it. Never a token." }));
export type UserStatusView = z.output<typeof UserStatusView>;

/** `GET …/zoom-credential`: the status, and what the grant can mint (./admin.ts `detailView`). Never a token. */
export const UserDetailView = z
  .object({
    ...UserStatusView.def.shape,
    bot_token_kinds: z
      .array(botTokenKind)
      .check(
        z.describe(
          "The bot tokens the user's grant can mint: none while the grant is dead or removed; by its scopes when Zoom's token response named them, else every kind (Zoom then decides at each mint).",
        ),
      ),
    zoom_scopes: z.nullable(
      z.array(z.string()).check(z.describe("The scopes Zoom's token response named for the grant; null when it named none.")),
    ),
  })
  .check(z.meta({ id: 'UserDetail', description: "A user's state and what the user's grant can mint. Never a token." }));
export type UserDetailView = z.output<typeof UserDetailView>;

/** `POST …/bot-token-urls`: the URLs, ready for Recall's Create Bot request. */
export const BotTokenUrlsView = z
  .object({
    zoom: z
      .object({
        obf_token_url: z.optional(z.string()),
        zak_url: z.optional(z.string()),
        join_token_url: z.optional(z.string()),
      })
      .check(
        z.describe(
          "The kinds asked for only. Pass it as it is as the `zoom` object of Recall's Create Bot request (`POST /api/v1/bot/`); each GET of a URL mints a new token.",
        ),
      ),
    expires_at: timestamp.check(z.describe('When the URLs stop working.')),
  })
  .check(
    z.meta({ id: 'BotTokenUrls', description: 'Signed bot-token URLs for one meeting. They hold no token; keep them like credentials.' }),
  );
export type BotTokenUrlsView = z.output<typeof BotTokenUrlsView>;

export const UserPage = z
  .object({ users: z.array(UserStatusView), next_cursor: z.nullable(z.string().check(z.regex(CURSOR_PATTERN))) })
  .check(z.meta({ id: 'UserPage', description: 'One page of users; next_cursor is null on the last page.' }));
export type UserPage = z.output<typeof UserPage>;

export const AccessTokenView = z.object({ access_token: z.string(), expires_at: z.nullable(timestamp) }).check(
  z.meta({
    id: 'AccessToken',
    description: "The user's Zoom access token, under the callback's freshness rule, for your own Zoom API calls.",
  }),
);
export type AccessTokenView = z.output<typeof AccessTokenView>;

/** ./http.ts `adminError`. */
export const ErrorBody = z
  .object({
    error: z
      .string()
      .check(
        z.describe(
          'invalid_request (400), not_found (404), reauth_required, deauthorized, scope_missing or concurrent_update (409), payload_too_large (413), recall_error or zoom_error (502), refresh_failed or refresh_in_progress (503), internal_error (500).',
        ),
      ),
    message: z.string(),
    field: z.optional(
      z
        .string()
        .check(
          z.describe(
            '400: the field that was wrong (userId, body, access_token, expires_at, status, limit, cursor, meeting_id, kinds, valid_for_seconds, …); 409 scope_missing: kinds.',
          ),
        ),
    ),
    upstream_status: z.optional(z.number().check(z.int(), z.describe("502: the upstream's HTTP status, when it answered."))),
    upstream_detail: z.optional(z.string().check(z.describe("502: the upstream's words."))),
  })
  .check(z.meta({ id: 'Error', description: 'Every error the admin function answers.' }));
export type ErrorBody = z.output<typeof ErrorBody>;

/** What the gateway answers itself (authorization, throttling, unknown routes): API Gateway's `{"message"}`. */
export const GatewayErrorBody = z
  .object({ message: z.string() })
  .check(z.meta({ id: 'GatewayError', description: "API Gateway's own answer; never reaches the function." }));

// ---------------------------------------------------------------------------------------------
// Status codes

/**
 * Every status code the admin function answers, per route: the success codes, and the ones
 * `adminError` maps the errors each route's domain calls can throw to. The handler logs an
 * error if it ever answers a code not listed here; the OpenAPI document lists exactly these
 * (plus GATEWAY_STATUSES); test/integration/openapi.test.ts produces each one.
 */
export const ADMIN_RESPONSES = {
  'GET /users': [200, 400, 500],
  'PUT /users/{userId}/zoom-credential': [200, 201, 400, 404, 409, 413, 500, 502],
  'GET /users/{userId}/zoom-credential': [200, 400, 404, 500],
  'DELETE /users/{userId}/zoom-credential': [204, 400, 409, 500, 502],
  'GET /users/{userId}/zoom-credential/access-token': [200, 400, 404, 409, 500, 503],
  'POST /users/{userId}/zoom-credential/recall-sync': [200, 400, 404, 409, 500, 502],
  'POST /users/{userId}/zoom-credential/bot-token-urls': [200, 400, 404, 409, 413, 500],
} as const satisfies Record<AdminRouteKey, readonly number[]>;

/** The success body of each route (`null`: none, 204). */
export const ADMIN_SUCCESS_BODIES: Record<AdminRouteKey, z.core.$ZodType | null> = {
  'GET /users': UserPage,
  'PUT /users/{userId}/zoom-credential': UserStatusView,
  'GET /users/{userId}/zoom-credential': UserDetailView,
  'DELETE /users/{userId}/zoom-credential': null,
  'GET /users/{userId}/zoom-credential/access-token': AccessTokenView,
  'POST /users/{userId}/zoom-credential/recall-sync': UserStatusView,
  'POST /users/{userId}/zoom-credential/bot-token-urls': BotTokenUrlsView,
};

/**
 * What the gateway answers before the function, on every admin route: 401 locally (a missing or
 * wrong bearer token), 403 in AWS (IAM: no valid SigV4 signature, or no `execute-api:Invoke`),
 * 429 in AWS (the admin routes' throttle).
 */
export const GATEWAY_STATUSES = [401, 403, 429] as const;
