/**
 * When a stored access token may be handed out. Recall needs >= 120 s of validity after our
 * answer; we keep a wider margin for clock skew, queueing and Recall's own processing.
 */
export const RECALL_MINIMUM_VALIDITY_MS = 120_000;
export const SERVE_MARGIN_MS = 300_000;

/**
 * How far ahead the refresher looks, in seconds. At least the serve margin plus a minute, or
 * tokens would reach the callback unrefreshed; well under Zoom's hour, or every sweep would
 * refresh every token. The stack checks its setting against the same range.
 */
export const REFRESH_WINDOW_SECONDS = { min: 360, max: 3000, default: 900 } as const;

/** True when the token can be served as is. */
export function isServable(accessTokenExpiresAt: number, now: number): boolean {
  return accessTokenExpiresAt - now >= SERVE_MARGIN_MS;
}
