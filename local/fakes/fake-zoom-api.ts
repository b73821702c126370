/**
 * The fake Zoom's REST API routes that mint bot tokens, as Zoom documents them (see
 * /work/shared/reference/recall-and-zoom.md, "Bot tokens"):
 *
 * - `GET /v2/users/me/token?type=onbehalf&meeting_id=N` (OBF, scope `user:read:token`),
 *   `GET /v2/users/me/token?type=zak` (ZAK, scope `user:read:zak`): `{"token": "…"}`;
 * - `GET /v2/meetings/{N}/jointoken/local_recording` (scope
 *   `meeting:read:local_recording_token`, the host's token only): `{"token": "…", "expire_in": 120}`.
 *
 * `Authorization: Bearer <access token>` must be a live access token the fake issued: unknown,
 * expired or revoked → `401 {"code": 124}`. The token's grant must hold the route's scope →
 * `400 {"code": 4711}`. The meeting must exist (and, for a join token, be the caller's) →
 * `404 {"code": 3001}`. Every answer is a new token; a bot can use each once (`useBotToken`).
 * `failNextApi` injects 429 (with Retry-After), 5xx or a hang before any check. Mints are
 * counted by kind. Logs nothing.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './http-util';

export type BotTokenType = 'onbehalf' | 'zak' | 'local_recording';

/**
 * The scopes Zoom documents for each route, granular and classic; any one of them will do.
 * Written apart from the vault's own table (functions/domain/bot-tokens.ts) on purpose: the fake
 * follows Zoom, not the code it tests.
 */
const ROUTE_SCOPES: Record<BotTokenType, readonly string[]> = {
  onbehalf: ['user:read:token', 'user:read:token:admin', 'user:read', 'user:read:admin'],
  zak: ['user:read:zak', 'user:read:zak:admin', 'user_zak:read', 'user_zak:read:admin', 'user:read', 'user:read:admin'],
  local_recording: [
    'meeting:read:local_recording_token',
    'meeting:read:local_recording_token:admin',
    'meeting_token:read:local_recording',
    'meeting_token:read:admin:local_recording',
  ],
};

export type ZoomApiFailure = { status: 429 | 500 | 502 | 503; retryAfterSeconds?: number } | 'hang';

/** The API half of the public FakeZoom object. */
export interface FakeZoomApi {
  /** A meeting hosted by `hostZoomUserId`; its number. */
  createMeeting(hostZoomUserId: string): string;
  /** The next `count` API requests fail as told, before any check. */
  failNextApi(count: number, how: ZoomApiFailure): void;
  /** A bot joins with `token`: true the first time only (bot tokens are single-use); false for one never minted. */
  useBotToken(token: string): boolean;
  /** Bot tokens minted so far, by type; `apiCalls` counts every API request, refused ones included. */
  apiStats(): { apiCalls: number } & Record<BotTokenType, number>;
}

/** The meetings the fake knows: number → host's Zoom user id. */
export class ZoomMeetings {
  private readonly hosts = new Map<string, string>();
  private next = 85_746_065_432;

  constructor(
    saved: Record<string, string> | undefined,
    private readonly changed: () => void,
  ) {
    for (const [id, host] of Object.entries(saved ?? {})) {
      if (/^[1-9][0-9]{8,11}$/.test(id) && typeof host === 'string') this.hosts.set(id, host);
    }
    this.next = Math.max(this.next, ...[...this.hosts.keys()].map((id) => Number(id) + 1));
  }

  create(hostZoomUserId: string): string {
    const id = String(this.next++);
    this.hosts.set(id, hostZoomUserId);
    this.changed();
    return id;
  }

  hostOf(meetingId: string): string | undefined {
    return this.hosts.get(meetingId);
  }

  saved(): Record<string, string> {
    return Object.fromEntries(this.hosts);
  }
}

interface Bearer {
  zoomUserId: string;
  scope: string;
}

const API_PATHS = [/^\/v2\/users\/me\/token$/, /^\/v2\/meetings\/([^/]+)\/jointoken\/local_recording$/];

export class ZoomApiRoutes {
  private readonly failures: ZoomApiFailure[] = [];
  /** Every token minted, and whether a bot has used it. */
  private readonly minted = new Map<string, { type: BotTokenType; used: boolean }>();
  private readonly counts = { apiCalls: 0, onbehalf: 0, zak: 0, local_recording: 0 };

  constructor(
    private readonly config: { verifyAccessToken: (token: string) => Bearer | undefined; latencyMs?: number },
    private readonly meetings: ZoomMeetings,
  ) {}

  handles(req: IncomingMessage): boolean {
    const { pathname } = new URL(req.url ?? '/', 'http://fake-zoom');
    return API_PATHS.some((path) => path.test(pathname));
  }

  controls(): FakeZoomApi {
    return {
      createMeeting: (host) => this.meetings.create(host),
      failNextApi: (count, how) => {
        for (let i = 0; i < count; i++) this.failures.push(how);
      },
      useBotToken: (token) => {
        const known = this.minted.get(token);
        if (!known || known.used) return false;
        known.used = true;
        return true;
      },
      apiStats: () => ({ ...this.counts }),
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.apiCalls++;
    if (this.config.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.config.latencyMs));
    const failure = this.failures.shift();
    if (failure === 'hang') return; // never answered; close() destroys the socket
    if (failure) return sendFailure(res, failure);
    if (req.method !== 'GET') return sendJson(res, 405, { code: 405, message: 'Method not allowed.' });
    const url = new URL(req.url ?? '/', 'http://fake-zoom');
    const bearer = this.config.verifyAccessToken(/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!bearer) return sendJson(res, 401, { code: 124, message: 'Invalid access token.' });
    const asked = this.routeOf(url);
    if ('error' in asked) return sendJson(res, 400, { code: 300, message: asked.error });
    if (!ROUTE_SCOPES[asked.type].some((scope) => bearer.scope.split(' ').includes(scope))) {
      return sendJson(res, 400, { code: 4711, message: `Invalid access token, does not contain scopes:[${ROUTE_SCOPES[asked.type][0]}].` });
    }
    if (asked.meetingId !== undefined && !this.visible(asked.type, asked.meetingId, bearer.zoomUserId)) {
      return sendJson(res, 404, { code: 3001, message: `Meeting does not exist: ${asked.meetingId}.` });
    }
    sendJson(res, 200, this.mint(asked.type), { 'cache-control': 'no-store' });
  }

  /** What a request asks for: the token type and the meeting, or why it is malformed. */
  private routeOf(url: URL): { type: BotTokenType; meetingId?: string } | { error: string } {
    const joinToken = API_PATHS[1].exec(url.pathname);
    if (joinToken) return { type: 'local_recording', meetingId: decodeURIComponent(joinToken[1]) };
    const type = url.searchParams.get('type');
    if (type === 'zak') return { type: 'zak' };
    if (type !== 'onbehalf') return { error: 'Invalid field: type.' };
    const meetingId = url.searchParams.get('meeting_id');
    return meetingId ? { type: 'onbehalf', meetingId } : { error: 'meeting_id is required for type onbehalf.' };
  }

  /** OBF tokens are for any existing meeting (outside the account too); a join token for the caller's own meetings only. */
  private visible(type: BotTokenType, meetingId: string, zoomUserId: string): boolean {
    const host = this.meetings.hostOf(meetingId);
    return host !== undefined && (type !== 'local_recording' || host === zoomUserId);
  }

  private mint(type: BotTokenType): { token: string; expire_in?: number } {
    this.counts[type]++;
    const token = `${type}.${randomBytes(32).toString('base64url')}`;
    this.minted.set(token, { type, used: false });
    return type === 'local_recording' ? { token, expire_in: 120 } : { token };
  }
}

function sendFailure(res: ServerResponse, failure: Exclude<ZoomApiFailure, 'hang'>): void {
  const headers: Record<string, string> = failure.status === 429 ? { 'retry-after': String(failure.retryAfterSeconds ?? 1) } : {};
  const body =
    failure.status === 429
      ? { code: 429, message: 'You have reached the maximum per-second rate limit for this API. Try again later.' }
      : { code: failure.status, message: 'Internal Error' };
  sendJson(res, failure.status, body, headers);
}
