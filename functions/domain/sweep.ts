/**
 * One refresher sweep: the users whose access token expires within the window, read from the
 * sparse due index (never a table scan), refreshed with bounded concurrency under the same
 * per-user lease as the callback path. One user's failure never stops the sweep; it is simply
 * due again on the next one.
 */
import { refreshUser, type RefreshDeps, type RefreshOutcome } from './refresh';

export interface SweepOptions {
  /** How far ahead a token counts as due. */
  windowMs: number;
  concurrency: number;
  /** Start no new refresh after this time (ms since the epoch): the function must end in time. */
  deadline: number;
}

export interface SweepSummary {
  due: number;
  refreshed: number;
  /** Already fresh when its turn came (another worker refreshed it). */
  alreadyFresh: number;
  skippedLeaseHeld: number;
  failedRetryable: number;
  grantsDead: number;
  misconfigured: number;
  unsaved: number;
  /** Deleted or superseded while the sweep ran. */
  gone: number;
  /** Unexpected errors (storage, KMS): retried next sweep. */
  errors: number;
  /** Due but not attempted because the deadline came. */
  deferred: number;
  durationMs: number;
}

const COUNTER: Record<RefreshOutcome['kind'], keyof SweepSummary> = {
  refreshed: 'refreshed',
  fresh: 'alreadyFresh',
  lease_held: 'skippedLeaseHeld',
  retryable: 'failedRetryable',
  grant_dead: 'grantsDead',
  misconfigured: 'misconfigured',
  unsaved: 'unsaved',
  not_found: 'gone',
  superseded: 'gone',
};

export async function sweepDueUsers(deps: RefreshDeps, options: SweepOptions): Promise<SweepSummary> {
  const startedAt = deps.clock();
  const summary: SweepSummary = {
    due: 0, refreshed: 0, alreadyFresh: 0, skippedLeaseHeld: 0, failedRetryable: 0, grantsDead: 0,
    misconfigured: 0, unsaved: 0, gone: 0, errors: 0, deferred: 0, durationMs: 0,
  };
  const freshUntil = startedAt + options.windowMs;
  const due: string[] = [];
  for await (const user of deps.store.listDue(freshUntil)) due.push(user.userId);
  summary.due = due.length;

  let next = 0;
  const worker = async () => {
    while (next < due.length) {
      const userId = due[next++];
      if (deps.clock() >= options.deadline) {
        summary.deferred += 1;
        continue;
      }
      try {
        const outcome = await refreshUser(userId, freshUntil, deps);
        summary[COUNTER[outcome.kind]] += 1;
      } catch (error) {
        summary.errors += 1;
        deps.logger.error('refresh of one user failed', { userId, errorName: error instanceof Error ? error.name : typeof error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, due.length)) }, worker));
  summary.durationMs = deps.clock() - startedAt;
  return summary;
}
