/**
 * Request validation for the admin API, with the zod schemas of ./admin-schemas.ts (which the
 * OpenAPI document is generated from). Errors name the field and never echo values (a body
 * holds tokens).
 */
import type * as z from 'zod/mini';
import { PayloadTooLargeError, ValidationError } from './request-errors';
import type { BotTokenUrlRequest } from '../domain/bot-tokens';
import type { NewTokens } from '../domain/registration';
import { USER_STATES, type UserState } from '../domain/token-record';
import {
  BotTokenUrlsBody,
  LIST_LIMIT,
  ListQuery,
  MAX_BODY_BYTES,
  MAX_EXPIRES_IN_SECONDS,
  USER_ID_PATTERN,
  UserIdParam,
  ZoomTokenBody,
} from './admin-schemas';

export { LIST_LIMIT, MAX_BODY_BYTES };

type Issue = z.core.$ZodIssue;

/** zod/mini carries no message texts (no locale): say what was wrong from the issue itself. */
function describeIssue(issue: Issue, input: unknown): string {
  const field = issue.path[0];
  const present = typeof input === 'object' && input !== null && typeof field === 'string' && field in input;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.path.length === 0) return `must be a JSON ${issue.expected}`;
      return present ? `must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}` : 'is required';
    case 'too_small':
      if (issue.origin === 'array') return `must hold at least ${issue.minimum} item`;
      return issue.origin === 'string' ? 'must not be empty' : `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `must hold at most ${issue.maximum} items`;
      return issue.origin === 'string' ? `must be at most ${issue.maximum} characters` : `must be at most ${issue.maximum}`;
    case 'invalid_format':
      if (field === 'meeting_id') return 'must be a Zoom meeting number (9 to 12 digits, no spaces)';
      return 'must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T00:00:00Z';
    case 'invalid_value':
      return `must be one of ${issue.values.join(', ')}`;
    default:
      return `is invalid: ${issue.message}`;
  }
}

export function parseUserId(raw: string | undefined): string {
  if (raw === undefined || !UserIdParam.safeParse(raw).success) {
    throw new ValidationError(`userId must match ${USER_ID_PATTERN.source}`, 'userId');
  }
  return raw;
}

export function parseJsonBody(body: string | undefined, isBase64Encoded: boolean | undefined): unknown {
  const text = body === undefined ? '' : isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) throw new PayloadTooLargeError(`body exceeds ${MAX_BODY_BYTES} bytes`);
  if (text.trim() === '') throw new ValidationError('a JSON body is required', 'body');
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('body is not valid JSON', 'body');
  }
}

/** The first issue as a ValidationError naming its field (`kinds.1` for an array item). */
function refusal(issues: readonly Issue[], input: unknown): ValidationError {
  const issue = issues[0];
  const field = issue.path.length ? issue.path.join('.') : 'body';
  return new ValidationError(`${field} ${describeIssue(issue, input)}`, field);
}

export function parseZoomTokens(input: unknown, now: number): NewTokens {
  const parsed = ZoomTokenBody.safeParse(input);
  if (!parsed.success) throw refusal(parsed.error.issues, input);
  const body = parsed.data;
  const accessTokenExpiresAt = body.expires_at !== undefined ? Date.parse(body.expires_at) : now + body.expires_in! * 1000;
  if (accessTokenExpiresAt <= now) throw new ValidationError('expires_at: must be in the future', 'expires_at');
  if (accessTokenExpiresAt > now + MAX_EXPIRES_IN_SECONDS * 1000) {
    throw new ValidationError('expires_at: must be within 24 hours', 'expires_at');
  }
  return {
    tokens: { accessToken: body.access_token, refreshToken: body.refresh_token, ...(body.scope ? { scope: body.scope } : {}) },
    accessTokenExpiresAt,
  };
}

/** `POST …/bot-token-urls`: the meeting, the kinds (default OBF), the validity (default a day). */
export function parseBotTokenUrls(input: unknown): BotTokenUrlRequest {
  const parsed = BotTokenUrlsBody.safeParse(input);
  if (!parsed.success) throw refusal(parsed.error.issues, input);
  return { meetingId: parsed.data.meeting_id, kinds: parsed.data.kinds, validForSeconds: parsed.data.valid_for_seconds };
}

/** A cursor is the last user id read, base64url: opaque to callers, checked on the way back. */
export function encodeCursor(lastUserId: string): string {
  return Buffer.from(lastUserId, 'utf8').toString('base64url');
}

export function parseListQuery(query: Record<string, string | undefined> | undefined): {
  status: UserState;
  limit: number;
  after?: string;
} {
  const parsed = ListQuery.safeParse(query ?? {});
  if (!parsed.success) {
    const field = String(parsed.error.issues[0].path[0] ?? 'status');
    const message = field === 'status' ? `status must be one of ${USER_STATES.join(', ')}` : `${field} is invalid`;
    throw new ValidationError(message, field);
  }
  const limit = parsed.data.limit === undefined ? LIST_LIMIT.default : Number(parsed.data.limit);
  if (limit < LIST_LIMIT.min || limit > LIST_LIMIT.max)
    throw new ValidationError(`limit must be from ${LIST_LIMIT.min} to ${LIST_LIMIT.max}`, 'limit');
  if (parsed.data.cursor === undefined) return { status: parsed.data.status, limit };
  const after = Buffer.from(parsed.data.cursor, 'base64url').toString('utf8');
  if (!USER_ID_PATTERN.test(after)) throw new ValidationError('cursor is invalid', 'cursor');
  return { status: parsed.data.status, limit, after };
}
