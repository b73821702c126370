import type { BotTokenKind } from '../contract';
import type { ZoomMintResult } from './ports';

/**
 * Typed errors of the domain. Handlers map them to HTTP answers in one place
 * (functions/handlers/http.ts); messages never carry a token or a secret.
 */
export class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A conditional write lost: someone else wrote first. */
export class ConflictError extends DomainError {}

export class NotFoundError extends DomainError {}

/** The callback URL's signature did not verify (or named an unknown key). */
export class InvalidSignatureError extends DomainError {}

/** No usable token for this user right now; `reason` is for logs and the admin API only. */
export class TokenUnavailableError extends DomainError {
  constructor(
    readonly reason: 'reauth_required' | 'deauthorized' | 'refresh_failed' | 'refresh_in_progress',
    message: string,
  ) {
    super(message);
  }
}

/** An upstream (Recall, Zoom) failed after retries. `status`/`detail` are the upstream's words. */
export class UpstreamError extends DomainError {
  constructor(
    readonly upstream: 'recall' | 'zoom',
    message: string,
    readonly status?: number,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Recall's 400 answer when the Zoom user already has a credential for this OAuth app. */
export class RecallConflictError extends DomainError {
  constructor(
    readonly conflictingZoomUserId: string | undefined,
    readonly conflictingZoomAccountId: string | undefined,
    readonly detail: string,
  ) {
    super('Recall already has a credential for this Zoom user');
  }
}

/** A sealed record that cannot be opened: tampered, copied from another user, or its data key is unknown. */
export class UnreadableRecordError extends DomainError {}

/** No bot token can be minted (domain/bot-tokens.ts): the bot gets a 404 with `reason`; asking again changes nothing. */
export class NoBotTokenError extends DomainError {
  constructor(
    readonly reason: 'scope_missing' | 'meeting_not_found' | 'zoom_refused',
    message: string,
  ) {
    super(message);
  }
}

/** The grant lacks the scope a kind needs (Zoom named the grant's scopes): 404 to a bot, 409 to the admin API. */
export class MissingScopeError extends NoBotTokenError {
  constructor(
    readonly kind: BotTokenKind,
    readonly scope: string,
  ) {
    super('scope_missing', `the user's Zoom grant lacks the scope ${scope} (needed for ${kind})`);
  }
}

/** Zoom's API failed transiently after a bounded retry, or kept rejecting the access token: a 503. */
export class ZoomApiUnavailableError extends DomainError {
  constructor(
    readonly failure: Extract<ZoomMintResult, { kind: 'retry' }>['cause'],
    readonly retryAfterMs?: number,
  ) {
    super(`Zoom's API did not mint a token (${failure})`);
  }
}
