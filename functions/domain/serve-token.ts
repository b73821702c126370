/**
 * Handing out a user's access token (to Recall's callback, or to the app backend): from the
 * store when it has enough life left, else refreshed inline under the user's lease. Concurrent
 * requests that find the lease taken wait briefly for the winner's write.
 */
import { NotFoundError, TokenUnavailableError } from './errors';
import { isServable, RECALL_MINIMUM_VALIDITY_MS, SERVE_MARGIN_MS } from './freshness';
import { defaultSleep, refreshUser, type RefreshDeps } from './refresh';
import type { StoredUser } from './token-record';

export interface ServedToken {
  accessToken: string;
  expiresAt: number;
}

export interface ServeOptions {
  /** When the answer must be ready (ms since the epoch): Recall gives the callback 5 s. */
  deadline: number;
  /** How often a waiting request re-reads the item while another holds the lease. */
  pollIntervalMs?: number;
}

/** A token this close to expiry is still served when a refresh cannot be had: Recall accepts >= 120 s. */
const FALLBACK_MINIMUM_MS = RECALL_MINIMUM_VALIDITY_MS + 30_000;

export async function serveAccessToken(userId: string, deps: RefreshDeps, options: ServeOptions): Promise<ServedToken> {
  const { store, clock } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  // Consistent: Recall validates a credential right after registration wrote the user, and an
  // eventually consistent read could miss it (or serve a pair a refresh just replaced).
  let user = await store.get(userId, { consistent: true });
  if (!user) throw new NotFoundError('unknown user');

  // A few rounds at most: each either serves, refreshes, waits or fails.
  for (let round = 0; round < 3; round++) {
    if (user.status === 'reauth_required') throw new TokenUnavailableError('reauth_required', 'user must re-authorize with Zoom');
    if (isServable(user.accessTokenExpiresAt, clock())) return open(user, deps);

    const outcome = await refreshUser(userId, clock() + SERVE_MARGIN_MS, deps);
    switch (outcome.kind) {
      case 'refreshed':
        return { accessToken: outcome.tokens.accessToken, expiresAt: outcome.user.accessTokenExpiresAt };
      case 'fresh':
        user = outcome.user;
        continue;
      case 'not_found':
        throw new NotFoundError('unknown user');
      case 'grant_dead':
        throw new TokenUnavailableError('reauth_required', 'user must re-authorize with Zoom');
      case 'lease_held': {
        // Another request or the refresher is refreshing: wait for its write.
        const waited = await waitForRefresh(userId, options, deps, sleep);
        if (waited) return open(waited, deps);
        return fallback(outcome.user, deps, 'refresh_in_progress');
      }
      case 'superseded': {
        const current = await store.get(userId, { consistent: true });
        if (!current) throw new NotFoundError('unknown user');
        user = current;
        continue;
      }
      case 'unsaved':
        // The new pair could not be stored, but its access token is good: better served than lost.
        return { accessToken: outcome.tokens.accessToken, expiresAt: outcome.accessTokenExpiresAt };
      case 'retryable':
      case 'misconfigured':
        return fallback(user, deps, 'refresh_failed');
    }
  }
  return fallback(user, deps, 'refresh_in_progress');
}

async function waitForRefresh(
  userId: string,
  options: ServeOptions,
  deps: RefreshDeps,
  sleep: (ms: number) => Promise<void>,
): Promise<StoredUser | undefined> {
  const interval = options.pollIntervalMs ?? 100;
  while (deps.clock() + interval < options.deadline) {
    await sleep(interval);
    const current = await deps.store.get(userId, { consistent: true });
    if (!current || current.status === 'reauth_required') return undefined;
    if (isServable(current.accessTokenExpiresAt, deps.clock())) return current;
    if (!current.lease || current.lease.expiresAt <= deps.clock()) return undefined;
  }
  return undefined;
}

/** No refresh could be had: the stored token still serves if Recall would accept it. */
async function fallback(user: StoredUser, deps: RefreshDeps, reason: 'refresh_failed' | 'refresh_in_progress'): Promise<ServedToken> {
  if (user.status === 'active' && user.accessTokenExpiresAt - deps.clock() >= FALLBACK_MINIMUM_MS) {
    deps.logger.warn('serving a token inside the refresh margin', { userId: user.userId, reason });
    return open(user, deps);
  }
  throw new TokenUnavailableError(reason, 'no access token with enough validity left');
}

async function open(user: StoredUser, deps: RefreshDeps): Promise<ServedToken> {
  const tokens = await deps.cipher.open(user.userId, user.sealed);
  return { accessToken: tokens.accessToken, expiresAt: user.accessTokenExpiresAt };
}
