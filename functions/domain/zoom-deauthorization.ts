/**
 * Zoom's `app_deauthorized`: the user removed the app at Zoom, so every grant of that Zoom user
 * for the app is dead and the app must stop holding the user's data. For each of our users whose
 * record names that Zoom user (learned from Recall when the credential was created):
 * - the credential at Recall is deleted first, while the record still names it;
 * - then, conditional on the record not having changed, the tokens are removed from the record
 *   (a tombstone keeps only when and why), the status becomes `deauthorized` (out of the due
 *   index, the callback answers 503), and the token generation moves on, so a refresh in flight
 *   cannot write its answer back over the tombstone;
 * - one event is published.
 * A repeated event (Zoom retries) finds the user already deauthorized and changes nothing.
 */
import { ConflictError } from './errors';
import { announce, lifecycleEvents } from './events';
import type { Clock, EventPublisher, Log, RecallClient, TokenStore } from './ports';
import type { ErrorNote, StoredUser } from './token-record';

export interface DeauthorizationDeps {
  store: TokenStore;
  recall: RecallClient;
  clock: Clock;
  logger: Log;
  events?: EventPublisher;
}

export interface Deauthorization {
  zoomUserId: string;
  zoomAccountId?: string;
  /** Zoom's deauthorization_time, ms since the epoch: only grants registered before it are ended. */
  deauthorizedAt: number;
}

const WRITE_ATTEMPTS = 5;

/** The users deauthorized by this call (already deauthorized or unknown ones are not in it). */
export async function deauthorizeZoomUser(event: Deauthorization, deps: DeauthorizationDeps): Promise<StoredUser[]> {
  const candidates = await deps.store.findByZoomUser(event.zoomUserId);
  const done: StoredUser[] = [];
  for (const candidate of candidates) {
    const user = await deauthorizeOne(candidate.userId, event, deps);
    if (user) done.push(user);
  }
  if (candidates.length === 0) deps.logger.info('Zoom deauthorization for no known user');
  return done;
}

async function deauthorizeOne(userId: string, event: Deauthorization, deps: DeauthorizationDeps): Promise<StoredUser | undefined> {
  for (let attempt = 1; ; attempt++) {
    const existing = await deps.store.get(userId, { consistent: true });
    if (!existing || !endedBy(existing, event)) return undefined;
    if (existing.recall.credentialId) await deps.recall.deleteZoomOAuthCredential(existing.recall.credentialId);
    const now = deps.clock();
    const note: ErrorNote = {
      at: now,
      code: 'zoom_deauthorized',
      message: 'the user removed the app at Zoom; tokens and Recall credential deleted',
    };
    const generation = existing.tokenGeneration + 1;
    try {
      const user = await deps.store.update(
        userId,
        // The grant (and pair) judged: a PUT or a refresh landing meanwhile is judged again.
        {
          registrationId: existing.registrationId,
          registeredGeneration: existing.registeredGeneration ?? null,
          tokenGeneration: existing.tokenGeneration,
        },
        {
          status: 'deauthorized',
          sealed: { removedAt: event.deauthorizedAt, reason: 'zoom_deauthorized' },
          tokenGeneration: generation,
          // A registration still running records nothing over this (its generation is gone).
          registeredGeneration: generation,
          lease: null,
          reauthRequired: null,
          lastError: note,
          recall: { status: 'pending', lastError: note },
          updatedAt: now,
        },
      );
      deps.logger.warn('user deauthorized the app at Zoom; tokens removed', { userId });
      await announce(deps.events, lifecycleEvents.zoomDeauthorized(user, now));
      return user;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/**
 * Whether the event ends the grant this record holds: the record names the event's Zoom user
 * (and account, when both are known), is not already deauthorized, and its grant was registered
 * before the deauthorization (a grant PUT after it is a new authorization, untouched).
 */
function endedBy(user: StoredUser, event: Deauthorization): boolean {
  if (user.zoomUserId !== event.zoomUserId || user.status === 'deauthorized') return false;
  if (event.zoomAccountId && user.zoomAccountId && user.zoomAccountId !== event.zoomAccountId) return false;
  return (user.grantedAt ?? user.createdAt) < event.deauthorizedAt;
}
