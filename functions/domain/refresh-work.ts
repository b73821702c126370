/**
 * The refresh worker's part: one requested user refreshed under its lease, with quick retries
 * while the refresh token cannot have been spent (a 5xx, a 429, no connection), so a transient
 * Zoom failure does not leave a user waiting for the next dispatch.
 */
import { refreshUser, type RefreshDeps, type RefreshOutcome } from './refresh';
import { TIMING } from './timing';

export interface WorkOptions {
  /** Refresh unless the token lives this far past now. */
  windowMs: number;
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
    outcome = await refreshUser(userId, deps.clock() + options.windowMs, quiet);
    if (outcome.kind !== 'retryable' || outcome.error === 'insufficient_time' || attempt >= attempts) break;
    const wait = outcome.retryAfterMs ?? 200 * 2 ** (attempt - 1);
    const deadline = deps.deadline ?? Number.POSITIVE_INFINITY;
    if (wait > (options.maxRetryWaitMs ?? 2_000) || deps.clock() + wait + TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs > deadline) break;
    await sleep(wait);
  }
  observe?.(outcome.kind);
  return outcome;
}
