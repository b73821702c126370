/**
 * How eagerly tokens are kept fresh.
 * - proactive: every access token is kept fresh, whether or not it is ever asked for.
 * - adaptive: users whose token was handed out within `activeMs` are kept fresh as above; idle
 *   users are refreshed only often enough to keep the grant alive (every `keepAliveMs`), and on
 *   their next callback the answer waits for a refresh (below the serve floor it always does).
 */
export type RefreshPolicy = { kind: 'proactive' } | { kind: 'adaptive'; activeMs: number; keepAliveMs: number };

export const PROACTIVE: RefreshPolicy = { kind: 'proactive' };

/** A served token marks its user in use at most this often (one write per user and day). */
export const SERVE_RECORD_INTERVAL_MS = 24 * 3600_000;

/** When a user just refreshed is next due: undefined means by its access token's expiry. */
export function nextRefreshDue(policy: RefreshPolicy, lastServedAt: number | undefined, now: number): number | undefined {
  if (policy.kind === 'proactive') return undefined;
  if (lastServedAt !== undefined && now - lastServedAt < policy.activeMs) return undefined;
  return now + policy.keepAliveMs;
}

/** Whether handing out a token should tell the workers its user is in use (adaptive policy, at most daily). */
export function shouldRecordServe(policy: RefreshPolicy, lastServedAt: number | undefined, now: number): boolean {
  return policy.kind === 'adaptive' && (lastServedAt === undefined || now - lastServedAt >= SERVE_RECORD_INTERVAL_MS);
}
