/**
 * When a stored access token may be handed out. Recall needs >= 120 s of validity after our
 * answer; we keep a wider margin for clock skew, queueing and Recall's own processing.
 */
export const RECALL_MINIMUM_VALIDITY_MS = 120_000;
export const SERVE_MARGIN_MS = 300_000;

/** True when the token can be served as is. */
export function isServable(accessTokenExpiresAt: number, now: number): boolean {
  return accessTokenExpiresAt - now >= SERVE_MARGIN_MS;
}

/** True when the refresher should renew the token in this sweep. */
export function isDue(accessTokenExpiresAt: number, now: number, windowMs: number): boolean {
  return accessTokenExpiresAt - now <= windowMs;
}
