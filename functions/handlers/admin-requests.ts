/**
 * Request validation for the admin API, with zod. Errors name the field and never echo values
 * (a body holds tokens).
 */
import { z } from 'zod';
import { PayloadTooLargeError, ValidationError } from '../domain/errors';
import { USER_ID_PATTERN } from '../domain/signing';
import type { NewTokens } from '../domain/registration';

/** Zoom's token response is about 1 KB; anything far larger is not one. */
export const MAX_BODY_BYTES = 16 * 1024;
/** A token that expires sooner than this cannot be served to Recall or validated by it. */
const MIN_EXPIRES_IN_SECONDS = 1;
const MAX_EXPIRES_IN_SECONDS = 24 * 3600;

const token = z.string().trim().min(1).max(4096);

/** Zoom's own token response, as the app backend received it from Zoom. Unknown fields are ignored. */
const ZoomTokenBody = z
  .object({
    access_token: token,
    refresh_token: token,
    expires_in: z.number().int().min(MIN_EXPIRES_IN_SECONDS).max(MAX_EXPIRES_IN_SECONDS).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    scope: z.string().max(4096).optional(),
    token_type: z.string().max(32).optional(),
  })
  .refine((body) => (body.expires_in === undefined) !== (body.expires_at === undefined), {
    message: 'exactly one of expires_in and expires_at is required',
    path: ['expires_in'],
  });

export function parseUserId(raw: string | undefined): string {
  if (raw === undefined || !USER_ID_PATTERN.test(raw)) {
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

export function parseZoomTokens(input: unknown, now: number): NewTokens {
  const parsed = ZoomTokenBody.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : 'body';
    throw new ValidationError(`${field}: ${issue.message}`, field);
  }
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
