/**
 * Zoom's `app_deauthorized`: the user removed the app at Zoom, so every grant of that Zoom user
 * for the app is dead and the app must stop holding the user's data. For each of our users whose
 * record names that Zoom user (learned from Recall when the credential was created) and holds a
 * grant registered before Zoom's deauthorization_time:
 * - conditional on the record still holding that grant and pair (its registration, registered
 *   generation and token generation), the tokens are removed from the record (a tombstone keeps
 *   only when and why), the status becomes `deauthorized` (out of the due index, the callback
 *   answers 503), and the token generation moves on, so a refresh in flight cannot write its
 *   answer back over the tombstone; the record still names its Recall credential, as one to delete;
 * - one event is published;
 * - the credential is deleted at Recall, then forgotten by the record (while it is still the
 *   deauthorized one naming it). A failure there answers 500: Zoom's redelivery finishes it.
 * A repeated event (Zoom retries) finds the user already deauthorized; one delivered late, or
 * replayed, after the user authorized again and the backend PUT the new grant finds a grant
 * registered after the deauthorization: both change nothing. A PUT landing meanwhile stops the
 * tombstone (its condition fails) and keeps its credential: nothing was deleted at Recall yet.
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
    if (existing?.status === 'deauthorized' && existing.zoomUserId === event.zoomUserId) {
      await forgetRecallCredential(existing, deps);
      return undefined;
    }
    if (!existing || !endedBy(existing, event)) return undefined;
    try {
      const user = await removeTokens(existing, event, deps);
      deps.logger.warn('user deauthorized the app at Zoom; tokens removed', { userId });
      await announce(deps.events, lifecycleEvents.zoomDeauthorized(user, user.updatedAt));
      await forgetRecallCredential(user, deps);
      return user;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/** The tombstone, conditional on the grant and pair judged: a PUT or a refresh landing meanwhile is judged again. */
function removeTokens(existing: StoredUser, event: Deauthorization, deps: DeauthorizationDeps): Promise<StoredUser> {
  const now = deps.clock();
  const note: ErrorNote = {
    at: now,
    code: 'zoom_deauthorized',
    message: 'the user removed the app at Zoom; tokens and Recall credential deleted',
  };
  const generation = existing.tokenGeneration + 1;
  const { credentialId } = existing.recall;
  return deps.store.update(
    existing.userId,
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
      // Still named, as the credential to delete at Recall (a PUT from now on makes its own).
      recall: { status: 'pending', ...(credentialId ? { credentialId } : {}), lastError: note },
      updatedAt: now,
    },
  );
}

/** Deletes at Recall the credential a deauthorized record still names, then forgets it (unless the record moved on). */
async function forgetRecallCredential(user: StoredUser, deps: DeauthorizationDeps): Promise<void> {
  const { credentialId, lastError } = user.recall;
  if (!credentialId) return;
  await deps.recall.deleteZoomOAuthCredential(credentialId);
  const condition = {
    registrationId: user.registrationId,
    registeredGeneration: user.registeredGeneration ?? null,
    recallCredentialId: credentialId,
  };
  try {
    await deps.store.update(user.userId, condition, { recall: { status: 'pending', ...(lastError ? { lastError } : {}) } });
  } catch (error) {
    // A new grant was PUT meanwhile: its registration dropped this credential already.
    if (!(error instanceof ConflictError)) throw error;
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
