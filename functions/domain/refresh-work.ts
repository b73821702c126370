/**
 * The refresh worker's part: one requested user refreshed under its lease, with quick retries
 * while the refresh token cannot have been spent (a 5xx, a 429, no connection), so a transient
 * Zoom failure does not leave a user waiting for the next dispatch.
 */
import { ConflictError } from './errors';
import { refreshUser, type RefreshDeps, type RefreshOutcome } from './refresh';
import { PROACTIVE, shouldRecordServe } from './refresh-policy';
import type { StoredUser } from './token-record';
import { TIMING } from './timing';

export interface WorkOptions {
  /** Refresh unless the token lives this far past now. */
  windowMs: number;
  /** A request that hands out the token asked: its user is in use (the adaptive policy keeps it warm). */
  served?: boolean;
  /** Zoom rejected the token expiring then (ms): refresh unless a later one is stored, whatever the window says. */
  rejectedExpiresAt?: number;
  /** Tries in all, while nothing was spent. */
  attempts?: number;
  /** A Retry-After longer than this ends the tries: the queue redelivers later. */
  maxRetryWaitMs?: number;
}

export async function refreshRequestedUser(userId: string, deps: RefreshDeps, options: WorkOptions): Promise<RefreshOutcome> {
  const { observe, ...quiet } = deps;
  const attempts = options.attempts ?? 3;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let outcome: RefreshOutcome;
  for (let attempt = 1; ; attempt++) {
    const freshUntil = Math.max(deps.clock() + options.windowMs, (options.rejectedExpiresAt ?? Number.NEGATIVE_INFINITY) + 1);
    outcome = await refreshUser(userId, freshUntil, quiet, { served: options.served });
    if (outcome.kind !== 'retryable' || outcome.error === 'insufficient_time' || attempt >= attempts) break;
    const wait = outcome.retryAfterMs ?? 200 * 2 ** (attempt - 1);
    const deadline = deps.deadline ?? Number.POSITIVE_INFINITY;
    if (wait > (options.maxRetryWaitMs ?? 2_000) || deps.clock() + wait + TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs > deadline) break;
    await sleep(wait);
  }
  if (outcome.kind === 'fresh' && options.served) await recordServed(outcome.user, deps);
  observe?.(outcome.kind);
  return outcome;
}

/**
 * A user whose fresh token was handed out is in use: under the adaptive policy it is kept warm
 * again (due by its expiry). At most one write a day per user (shouldRecordServe); a lost
 * race only delays the mark to the next serve.
 */
async function recordServed(user: StoredUser, deps: RefreshDeps): Promise<void> {
  const now = deps.clock();
  if (!shouldRecordServe(deps.policy ?? PROACTIVE, user.lastServedAt, now)) return;
  try {
    // Status and expiry written again unchanged: the due index moves back to the expiry.
    await deps.store.update(
      user.userId,
      { registrationId: user.registrationId, version: user.version },
      {
        status: 'active',
        accessTokenExpiresAt: user.accessTokenExpiresAt,
        refreshDueAt: null,
        lastServedAt: now,
        updatedAt: now,
      },
    );
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
  }
}
