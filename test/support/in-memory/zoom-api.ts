/**
 * Zoom's REST API for bot tokens in memory, for the domain's ZoomApiClient port, answering as
 * Zoom does (and as local/fakes/fake-zoom.ts does over HTTP; test/support/zoom-api-contract.ts
 * holds both to the same behaviour): the bearer must be a live access token of ScriptedZoom
 * (401 code 124 otherwise), the grant must hold the route's scope (400 code 4711), the meeting
 * must exist (404 code 3001; a join token only for its host), and every token is new and
 * single-use. Answers go through the domain's own classification, with the adapter's policy of
 * trying transient failures again (three attempts).
 *
 * `failNext(answer)` scripts the next answers (before any check); `minted` and `calls` record.
 */
import { randomBytes } from 'node:crypto';
import type { BotTokenKind } from '../../../functions/contract';
import { BOT_TOKEN_SCOPES, classifyZoomApiAnswer, retriedInPlace, type ZoomApiAnswer } from '../../../functions/domain/bot-tokens';
import type { ZoomApiClient, ZoomMintResult } from '../../../functions/domain/ports';
import type { ScriptedZoom } from './zoom';

export interface ZoomApiCall {
  kind: BotTokenKind;
  meetingId: string;
  accessToken: string;
  result: ZoomMintResult;
}

const ATTEMPTS = 3;

export class InMemoryZoomApi implements ZoomApiClient {
  /** Meeting number → its host's Zoom user id. */
  private readonly meetings = new Map<string, string>();
  private readonly scripted: ZoomApiAnswer[] = [];
  /** Tokens minted and whether a bot has used them. */
  private readonly tokens = new Map<string, { kind: BotTokenKind; used: boolean }>();
  /** Every attempt, in order. */
  readonly calls: ZoomApiCall[] = [];
  private nextMeeting = 85_746_065_432;

  constructor(private readonly zoom: ScriptedZoom) {}

  /** A meeting hosted by `hostZoomUserId`; its number. */
  createMeeting(hostZoomUserId: string): string {
    const id = String(this.nextMeeting++);
    this.meetings.set(id, hostZoomUserId);
    return id;
  }

  /** The next `count` attempts answer `answer`, before any check. */
  failNext(answer: ZoomApiAnswer, count = 1): void {
    for (let i = 0; i < count; i++) this.scripted.push(answer);
  }

  /** Tokens minted of `kind` (every kind when not given). */
  mints(kind?: BotTokenKind): number {
    return [...this.tokens.values()].filter((token) => kind === undefined || token.kind === kind).length;
  }

  /** A bot joins with the token: true the first time only (single-use). */
  use(token: string): boolean {
    const known = this.tokens.get(token);
    if (!known || known.used) return false;
    known.used = true;
    return true;
  }

  async mintBotToken(kind: BotTokenKind, meetingId: string, accessToken: string): Promise<ZoomMintResult> {
    let result: ZoomMintResult;
    for (let attempt = 1; ; attempt++) {
      result = classifyZoomApiAnswer(this.scripted.shift() ?? this.answer(kind, meetingId, accessToken));
      this.calls.push({ kind, meetingId, accessToken, result });
      if (!retriedInPlace(result) || attempt >= ATTEMPTS) return result;
    }
  }

  private answer(kind: BotTokenKind, meetingId: string, accessToken: string): ZoomApiAnswer {
    const bearer = this.zoom.verifyAccessToken(accessToken);
    if (!bearer) return reply(401, { code: 124, message: 'Invalid access token.' });
    const granted = bearer.scope.split(' ');
    if (!BOT_TOKEN_SCOPES[kind].some((scope) => granted.includes(scope))) {
      return reply(400, { code: 4711, message: `Invalid access token, does not contain scopes:[${BOT_TOKEN_SCOPES[kind][0]}].` });
    }
    const host = this.meetings.get(meetingId);
    const visible = kind === 'zak' || (host !== undefined && (kind === 'obf' || host === bearer.zoomUserId));
    if (!visible) return reply(404, { code: 3001, message: `Meeting does not exist: ${meetingId}.` });
    const token = `${kind}:${randomBytes(12).toString('base64url')}`;
    this.tokens.set(token, { kind, used: false });
    return reply(200, kind === 'join_token' ? { token, expire_in: 120 } : { token });
  }
}

function reply(status: number, body: object): ZoomApiAnswer {
  return { status, body: JSON.stringify(body) };
}
