/**
 * HTTP answers, and the one place where typed errors become status codes. Bodies never carry a
 * token (except the callback's and access-token route's success bodies) or an upstream secret.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { BotTokenFailureReason } from '../contract';
import {
  ConflictError,
  InvalidSignatureError,
  MissingScopeError,
  NoBotTokenError,
  NotFoundError,
  TokenUnavailableError,
  UnreadableRecordError,
  UpstreamError,
  ZoomApiUnavailableError,
} from '../domain/errors';
import { PayloadTooLargeError, ValidationError } from './request-errors';
import type { Log } from '../domain/ports';

export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; headers: Record<string, string> };

const NO_STORE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

export function text(statusCode: number, body: string, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'text/plain; charset=utf-8', ...NO_STORE, ...headers }, body };
}

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...NO_STORE }, body: JSON.stringify(body) };
}

export function noContent(): HttpResult {
  return { statusCode: 204, headers: { ...NO_STORE }, body: '' };
}

/** What a log line may say about an error: its class and message (ours never hold secrets). */
export function describe(error: unknown): Record<string, unknown> {
  return error instanceof Error ? { errorName: error.name, errorMessage: error.message } : { errorName: typeof error };
}

/**
 * The callback's answers. A bad signature and an unknown user answer exactly alike, so the
 * endpoint reveals nothing about who exists; only a correctly signed request learns more.
 */
export function callbackError(error: unknown, logger: Log, userId?: string): HttpResult {
  const who = userId === undefined ? {} : { userId };
  if (error instanceof InvalidSignatureError || error instanceof NotFoundError) {
    logger.warn('callback refused', { ...who, ...describe(error) });
    return text(403, 'forbidden');
  }
  if (error instanceof TokenUnavailableError || error instanceof UnreadableRecordError) {
    logger.warn('callback has no token to give', {
      ...who,
      ...describe(error),
      reason: error instanceof TokenUnavailableError ? error.reason : 'unreadable_record',
    });
    return text(503, 'token unavailable', { 'retry-after': '30' });
  }
  logger.error('callback failed', { ...who, ...describe(error) });
  return text(500, 'internal error');
}

/** A bot-token request's answer without a token, and the reason it counts under. */
export interface BotTokenRefusal {
  result: HttpResult;
  reason: BotTokenFailureReason;
}

/** Seconds a bot is asked to wait: Zoom's own Retry-After when it gave one (1 to 60 s), else 5. */
const retryAfterOf = (ms?: number) => String(ms === undefined ? 5 : Math.min(60, Math.max(1, Math.ceil(ms / 1000))));

/**
 * The bot-token routes' answers when no token is given. 403 exactly as the callback refuses
 * (every signature failure, an expired URL, another kind or meeting, a user deleted or
 * registered again); 404 with a short reason code when no token can be minted; 503 with
 * Retry-After when it may work shortly; 500 otherwise. Never Zoom's own words, never a token.
 */
export function botTokenError(error: unknown): BotTokenRefusal {
  if (error instanceof InvalidSignatureError || error instanceof NotFoundError) {
    return { result: text(403, 'forbidden'), reason: 'refused' };
  }
  if (error instanceof NoBotTokenError) return { result: text(404, error.reason), reason: error.reason };
  if (error instanceof TokenUnavailableError) {
    if (error.reason === 'reauth_required' || error.reason === 'deauthorized')
      return { result: text(404, error.reason), reason: error.reason };
    return { result: text(503, 'refresh_in_progress', { 'retry-after': retryAfterOf() }), reason: 'refresh_in_progress' };
  }
  if (error instanceof ZoomApiUnavailableError) {
    return { result: text(503, 'zoom_unavailable', { 'retry-after': retryAfterOf(error.retryAfterMs) }), reason: 'zoom_unavailable' };
  }
  if (error instanceof UnreadableRecordError) {
    return { result: text(503, 'unreadable_record', { 'retry-after': '30' }), reason: 'unreadable_record' };
  }
  return { result: text(500, 'internal error'), reason: 'internal_error' };
}

/** The admin API's answers: JSON `{error, message, field?}`. */
export function adminError(error: unknown, logger: Log): HttpResult {
  if (error instanceof MissingScopeError) {
    // The user's grant, as Zoom gave it: the user must authorize the app again with the scope.
    return json(409, { error: 'scope_missing', message: error.message, field: 'kinds' });
  }
  if (error instanceof ValidationError) {
    return json(400, { error: 'invalid_request', message: error.message, ...(error.field ? { field: error.field } : {}) });
  }
  if (error instanceof PayloadTooLargeError) return json(413, { error: 'payload_too_large', message: error.message });
  if (error instanceof NotFoundError) return json(404, { error: 'not_found', message: 'no credential for this user' });
  if (error instanceof TokenUnavailableError) {
    // A dead or removed grant is the user's state (409); a refresh that failed or is under way is ours (503).
    return json(error.reason === 'reauth_required' || error.reason === 'deauthorized' ? 409 : 503, {
      error: error.reason,
      message: error.message,
    });
  }
  if (error instanceof ConflictError) {
    return json(409, { error: 'concurrent_update', message: 'the user was changed by another request; try again' });
  }
  if (error instanceof UpstreamError) {
    logger.warn('upstream failed', { ...describe(error), upstream: error.upstream, upstreamStatus: error.status });
    return json(502, {
      error: `${error.upstream}_error`,
      message: error.message,
      ...(error.status !== undefined ? { upstream_status: error.status } : {}),
      ...(error.detail !== undefined ? { upstream_detail: error.detail } : {}),
    });
  }
  if (error instanceof UnreadableRecordError) {
    logger.error('admin request failed', describe(error));
    return json(500, { error: 'internal_error', message: 'the stored record cannot be read: an operator must look at it' });
  }
  logger.error('admin request failed', describe(error));
  return json(500, { error: 'internal_error', message: 'internal error' });
}
