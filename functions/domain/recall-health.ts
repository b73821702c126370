/**
 * Recall's view of our credentials. Recall marks a credential `unhealthy` when it can no longer
 * get a working token through it (reliably after the user revoked the app, for apps published
 * on the Zoom Marketplace) and has no webhook for it: it is polled.
 *
 * One check lists this app's unhealthy credentials (paced: Recall allows 60 list requests a
 * minute), maps each to our user through its callback URL (`user_id`, `reg`), and records the
 * user's Recall status `unhealthy` only while the record still claims that very credential. A
 * user already marked is left alone: the event goes out once per transition, not every hour.
 * The next PUT or re-sync recreates an unhealthy credential (registration.ts).
 */
import { announce, lifecycleEvents } from './events';
import type { Clock, EventPublisher, Log, RecallClient, RecallCredential, TokenStore } from './ports';
import { recordRecall } from './registration';
import { LEGACY_REGISTRATION_ID, type ErrorNote, type StoredUser } from './token-record';

/** Recall's list endpoint allows 60 requests a minute: one page a second at most. */
export const RECALL_LIST_PAGE_INTERVAL_MS = 1_000;

export interface RecallHealthDeps {
  store: TokenStore;
  recall: RecallClient;
  clock: Clock;
  logger: Log;
  oauthAppId: string;
  events?: EventPublisher;
  /** Pages at least this far apart (default RECALL_LIST_PAGE_INTERVAL_MS). */
  pageIntervalMs?: number;
}

export interface RecallHealthSummary {
  /** Unhealthy credentials Recall listed for this app. */
  unhealthy: number;
  /** Users newly marked unhealthy by this check (one event each). */
  marked: number;
  /** Users already marked by an earlier check. */
  alreadyMarked: number;
  /** Credentials no current record of ours claims (another app's URL, a deleted user, a replaced registration). */
  unclaimed: number;
}

export async function checkRecallHealth(deps: RecallHealthDeps): Promise<RecallHealthSummary> {
  const listed = await deps.recall.listZoomOAuthCredentials(
    { oauthAppId: deps.oauthAppId, status: 'unhealthy' },
    { pageIntervalMs: deps.pageIntervalMs ?? RECALL_LIST_PAGE_INTERVAL_MS },
  );
  const summary: RecallHealthSummary = { unhealthy: listed.length, marked: 0, alreadyMarked: 0, unclaimed: 0 };
  for (const credential of listed) {
    // Recall's own filter is trusted, and checked.
    if (credential.status !== undefined && credential.status !== 'unhealthy') continue;
    summary[await markUnhealthy(credential, deps)] += 1;
  }
  deps.logger.info('Recall health checked', { ...summary });
  return summary;
}

/** The user (id, registration) a credential's callback URL names, when it is one of ours and parsable. */
function ownerOf(credential: RecallCredential): { userId: string; registrationId: string } | undefined {
  try {
    const query = credential.callbackUrl ? new URL(credential.callbackUrl).searchParams : undefined;
    const userId = query?.get('user_id');
    return userId ? { userId, registrationId: query!.get('reg') ?? LEGACY_REGISTRATION_ID } : undefined;
  } catch {
    return undefined;
  }
}

async function markUnhealthy(credential: RecallCredential, deps: RecallHealthDeps): Promise<'marked' | 'alreadyMarked' | 'unclaimed'> {
  const owner = ownerOf(credential);
  if (!owner) return 'unclaimed';
  const claims = (user: StoredUser) => user.registrationId === owner.registrationId && user.recall.credentialId === credential.id;
  const current = await deps.store.get(owner.userId, { consistent: true });
  if (!current || !claims(current)) return 'unclaimed';
  if (current.recall.status === 'unhealthy') return 'alreadyMarked';
  const note: ErrorNote = {
    at: deps.clock(),
    code: 'recall_unhealthy',
    message: 'Recall reports the credential unhealthy; PUT new tokens or re-sync to recreate it',
  };
  const outcome = await recordRecall(owner.userId, { ...current.recall, status: 'unhealthy', lastError: note }, deps, (stored) =>
    claims(stored) && stored.recall.status !== 'unhealthy'
      ? { registrationId: stored.registrationId, recallCredentialId: credential.id }
      : undefined,
  );
  if (!outcome.recorded || !outcome.user) return outcome.user && claims(outcome.user) ? 'alreadyMarked' : 'unclaimed';
  deps.logger.warn('Recall credential unhealthy', { userId: owner.userId, credentialId: credential.id });
  await announce(deps.events, lifecycleEvents.recallCredentialUnhealthy(outcome.user, note.at));
  return 'marked';
}
