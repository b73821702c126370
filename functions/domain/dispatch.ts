/**
 * The dispatcher's part of refreshing at scale: read who is due from the sparse due index (in
 * due-time order across its shards, never a scan) and hand them to the refresh workers. The
 * most urgent go first, so when not all due users fit in one run, the ones deferred are those
 * due latest, whatever shard they live in.
 */
import type { Clock, Log, RefreshQueue, TokenStore } from './ports';

export interface DispatchDeps {
  store: TokenStore;
  refreshQueue: RefreshQueue;
  clock: Clock;
  logger: Log;
}

export interface DispatchOptions {
  /** How far ahead a token counts as due. */
  windowMs: number;
  /** Hand out no more after this time (ms since the epoch): the function must end in time. */
  deadline: number;
  /** At most this many users per run: what the workers can refresh before the next run. */
  maxUsers: number;
  /** While Zoom throttles us, hand out work this much later (seconds, SQS allows up to 900). */
  delaySeconds?: number;
}

export interface DispatchSummary {
  due: number;
  dispatched: number;
  /** Due but not handed out: past maxUsers or the deadline. The next run starts with them. */
  deferred: number;
  /** How long the most overdue token has been due and is not yet refreshed, in seconds (0: none). */
  oldestDueAgeSeconds: number;
  durationMs: number;
}

/** SQS takes ten messages per batch. */
const BATCH = 10;

export async function dispatchDueUsers(deps: DispatchDeps, options: DispatchOptions): Promise<DispatchSummary> {
  const startedAt = deps.clock();
  const summary: DispatchSummary = { due: 0, dispatched: 0, deferred: 0, oldestDueAgeSeconds: 0, durationMs: 0 };
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await deps.refreshQueue.enqueue(
      batch.map((userId) => ({ userId, reason: 'due' as const })),
      { delaySeconds: options.delaySeconds },
    );
    summary.dispatched += batch.length;
    batch = [];
  };
  for await (const due of deps.store.listDue(startedAt + options.windowMs)) {
    summary.due += 1;
    // Due since its expiry came within the window; listDue yields the most overdue first.
    if (summary.due === 1) summary.oldestDueAgeSeconds = Math.max(0, Math.floor((startedAt - (due.dueAt - options.windowMs)) / 1000));
    if (summary.dispatched + batch.length >= options.maxUsers || deps.clock() >= options.deadline) {
      summary.deferred += 1;
      continue;
    }
    batch.push(due.userId);
    if (batch.length === BATCH) await flush();
  }
  await flush();
  summary.durationMs = deps.clock() - startedAt;
  return summary;
}
