/**
 * Refreshing one user's tokens at Zoom, at most one refresh at a time per user.
 *
 * Zoom refresh tokens are single-use: a refresh whose answer is lost, or two refreshes at once,
 * can lock the user out. So:
 * - a lease on the user's item (a conditional write on its version) admits one refresher;
 * - the new pair is written conditional on the token generation the refresh consumed, so it
 *   lands even if the lease has meanwhile expired (nobody else can have used that refresh
 *   token successfully), and never over a newer pair (an admin re-registration);
 * - on invalid_grant the item is re-read: a new generation means another worker won.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError } from './errors';
import type { Clock, Log, TokenCipher, TokenStore, ZoomTokenClient } from './ports';
import type { ErrorNote, StoredUser, TokenPair, UserUpdate } from './token-record';

export interface RefreshDeps {
  store: TokenStore;
  cipher: TokenCipher;
  zoom: ZoomTokenClient;
  clock: Clock;
  logger: Log;
  /** How long a lease admits its owner. Longer than the Zoom timeout plus the write. */
  leaseMs?: number;
  /**
   * How long to wait for Zoom. Generous on purpose: giving up on a call Zoom still completes
   * throws away the only copy of the new refresh token.
   */
  zoomTimeoutMs?: number;
  /** Until when (ms since the epoch) a successful Zoom answer keeps trying to reach the table: the invocation's end. */
  saveUntil?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Told every outcome, for metrics. */
  observe?: (outcome: RefreshOutcome['kind']) => void;
}

export type RefreshOutcome =
  /** This call refreshed the tokens. */
  | { kind: 'refreshed'; user: StoredUser; tokens: TokenPair }
  /** Nothing to do: the stored token is fresh enough (perhaps another worker just refreshed it). */
  | { kind: 'fresh'; user: StoredUser }
  /** Another worker holds the lease. */
  | { kind: 'lease_held'; user: StoredUser }
  | { kind: 'grant_dead'; user: StoredUser }
  | { kind: 'not_found' }
  /** Zoom or the network failed in a way worth trying again later; the stored pair is intact. */
  | { kind: 'retryable'; error: string }
  /** Zoom rejected our client credentials: an operator must fix the configuration. */
  | { kind: 'misconfigured'; error: string }
  /** A newer token pair was stored while we refreshed (re-registration); ours was discarded. */
  | { kind: 'superseded' }
  /** Zoom answered but the answer could not be stored in time: the new pair exists only here. */
  | { kind: 'unsaved'; error: string; tokens: TokenPair; accessTokenExpiresAt: number };

const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_ZOOM_TIMEOUT_MS = 8_000;
const DEFAULT_SAVE_BUDGET_MS = 15_000;

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Lease owner ids: unique per attempt, so a crashed attempt's lease is never mistaken for ours. */
export function newLeaseOwner(): string {
  return randomUUID();
}

function leaseHeld(user: StoredUser, now: number): boolean {
  return user.lease !== undefined && user.lease.expiresAt > now;
}

/**
 * Refreshes `userId` unless its access token already lives until `freshUntil` (ms).
 * Never throws for Zoom's or the lease's outcomes; storage errors other than conflicts propagate.
 */
export async function refreshUser(userId: string, freshUntil: number, deps: RefreshDeps): Promise<RefreshOutcome> {
  const outcome = await refreshUnlessFresh(userId, freshUntil, deps);
  deps.observe?.(outcome.kind);
  return outcome;
}

type LeaseResult = { kind: 'leased'; leased: StoredUser; tookOver: boolean } | { kind: 'not_leased'; outcome: RefreshOutcome };

/**
 * Takes the user's lease unless the token is fresh, the grant dead or the lease held. A write
 * that loses to an unrelated change (a Recall-state write, a just-released lease) tries again.
 */
async function takeLease(first: StoredUser, freshUntil: number, deps: RefreshDeps): Promise<LeaseResult> {
  let user: StoredUser | undefined = first;
  for (let attempt = 1; ; attempt++) {
    if (!user) return { kind: 'not_leased', outcome: { kind: 'not_found' } };
    if (user.status === 'reauth_required') return { kind: 'not_leased', outcome: { kind: 'grant_dead', user } };
    if (user.accessTokenExpiresAt >= freshUntil) return { kind: 'not_leased', outcome: { kind: 'fresh', user } };
    if (leaseHeld(user, deps.clock())) return { kind: 'not_leased', outcome: { kind: 'lease_held', user } };
    const lease = { owner: newLeaseOwner(), expiresAt: deps.clock() + (deps.leaseMs ?? DEFAULT_LEASE_MS) };
    try {
      // An expired lease left behind: its holder may have spent the refresh token (see grant_dead).
      const tookOver = user.lease !== undefined;
      return { kind: 'leased', leased: await deps.store.update(user.userId, { version: user.version }, { lease }), tookOver };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if (attempt >= 3) return { kind: 'not_leased', outcome: { kind: 'lease_held', user } };
      user = await deps.store.get(user.userId, { consistent: true });
    }
  }
}

async function refreshUnlessFresh(userId: string, freshUntil: number, deps: RefreshDeps): Promise<RefreshOutcome> {
  const { store, clock, logger } = deps;
  const user = await store.get(userId, { consistent: true });
  if (!user) return { kind: 'not_found' };
  const taken = await takeLease(user, freshUntil, deps);
  if (taken.kind !== 'leased') return taken.outcome;
  const { leased, tookOver } = taken;

  const generation = leased.tokenGeneration;
  let consumed: TokenPair;
  try {
    consumed = await deps.cipher.open(userId, leased.sealed);
    // A data key in hand before the refresh token is spent: sealing the answer then needs no KMS call.
    await deps.cipher.prepare();
  } catch (error) {
    // Nothing consumed yet: give the lease back and let the next attempt try again.
    const note: ErrorNote = { at: clock(), code: 'refresh_setup_failed', message: error instanceof Error ? error.name : 'error' };
    await releaseLease(userId, leased.version, note, deps);
    throw error;
  }
  const result = await deps.zoom.refresh(consumed.refreshToken, { timeoutMs: deps.zoomTimeoutMs ?? DEFAULT_ZOOM_TIMEOUT_MS });

  switch (result.kind) {
    case 'ok': {
      const now = clock();
      const tokens: TokenPair = { ...result.tokens, scope: result.tokens.scope ?? consumed.scope };
      const saved = await saveRefreshedTokens(userId, { registrationId: leased.registrationId, tokenGeneration: generation }, tokens, {
        status: 'active',
        accessTokenExpiresAt: now + result.expiresInSeconds * 1000,
        tokenGeneration: generation + 1,
        lastRefreshAt: now,
        lastError: null,
        reauthRequired: null,
        lease: null,
        updatedAt: now,
      }, deps);
      if (saved.kind === 'unsaved') return { ...saved, tokens, accessTokenExpiresAt: now + result.expiresInSeconds * 1000 };
      if (saved.kind !== 'saved') return saved;
      logger.info('token refreshed', { userId, tokenGeneration: generation + 1 });
      return { kind: 'refreshed', user: saved.user, tokens };
    }
    case 'grant_dead': {
      // Perhaps another worker refreshed with this refresh token first: then its pair is stored.
      const current = await store.get(userId, { consistent: true });
      if (!current) return { kind: 'not_found' };
      if (current.tokenGeneration !== generation) {
        logger.info('refresh lost the race; the winner stored new tokens', { userId });
        return { kind: 'fresh', user: current };
      }
      if (tookOver) {
        // We took over an expired lease: its holder may have used this very refresh token and still
        // be storing the new pair. Not proof of a dead grant; the next attempt (no takeover) decides.
        const unconfirmed: ErrorNote = { at: clock(), code: 'zoom_invalid_grant_after_takeover', message: result.reason ?? result.error };
        await releaseLease(userId, leased.version, unconfirmed, deps);
        logger.warn('invalid_grant after taking over an expired lease; not condemning the grant yet', { userId, zoomError: result.error });
        return { kind: 'retryable', error: 'invalid_grant_after_lease_takeover' };
      }
      const note: ErrorNote = { at: clock(), code: result.error, message: result.reason ?? result.error };
      try {
        const dead = await store.update(userId, { registrationId: leased.registrationId, tokenGeneration: generation }, {
          status: 'reauth_required',
          reauthRequired: note,
          lastError: note,
          lease: null,
          updatedAt: note.at,
        });
        logger.warn('grant is dead; user must re-authorize', { userId, zoomError: result.error, zoomReason: result.reason });
        return { kind: 'grant_dead', user: dead };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        return { kind: 'superseded' };
      }
    }
    case 'retryable':
    case 'misconfigured': {
      const note: ErrorNote = { at: clock(), code: result.kind === 'retryable' ? 'zoom_unavailable' : 'zoom_misconfigured', message: result.error };
      await releaseLease(userId, leased.version, note, deps);
      const log = result.kind === 'retryable' ? logger.warn : logger.error;
      log.call(logger, 'refresh failed', { userId, outcome: result.kind, zoomError: result.error, zoomStatus: result.status });
      return { kind: result.kind, error: result.error };
    }
  }
}

type SaveResult = { kind: 'saved'; user: StoredUser } | { kind: 'superseded' } | { kind: 'unsaved'; error: string };

/**
 * A save attempt (KMS, then DynamoDB with the SDK's own retries) can take seconds: none starts
 * this close to the deadline, so none is cut off by the function's timeout mid-write.
 */
const SAVE_ATTEMPT_RESERVE_MS = 4_000;

/**
 * A successful Zoom answer must land: sealing (KMS) and the write (DynamoDB) are retried on any
 * error until the invocation's time is spent.
 */
async function saveRefreshedTokens(
  userId: string,
  consumed: { registrationId: string; tokenGeneration: number },
  tokens: TokenPair,
  update: Omit<UserUpdate, 'sealed'>,
  deps: RefreshDeps,
): Promise<SaveResult> {
  const sleep = deps.sleep ?? defaultSleep;
  const deadline = deps.saveUntil ?? deps.clock() + DEFAULT_SAVE_BUDGET_MS;
  let delay = 50;
  for (let attempt = 1; ; attempt++) {
    try {
      const sealed = await deps.cipher.seal(userId, tokens);
      return { kind: 'saved', user: await deps.store.update(userId, consumed, { ...update, sealed }) };
    } catch (error) {
      if (error instanceof ConflictError) {
        deps.logger.warn('refreshed tokens superseded by a newer registration; discarded', { userId });
        return { kind: 'superseded' };
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (deps.clock() + delay + SAVE_ATTEMPT_RESERVE_MS >= deadline) {
        // The only copy of the new refresh token is in this process. Operators are alerted
        // (RefreshResultUnsaved); the user will need to re-authorize if this process ends now.
        deps.logger.error('refreshed tokens could not be stored', { userId, attempts: attempt, error: message });
        return { kind: 'unsaved', error: message };
      }
      deps.logger.warn('storing refreshed tokens failed; retrying', { userId, attempt, error: message });
      await sleep(delay);
      delay = Math.min(delay * 2, 2_000);
    }
  }
}

/**
 * Ends our lease, only if nothing was written since we took it (`leasedVersion`): once our lease
 * has expired another worker may hold the user's lease, and clearing it would admit a second
 * concurrent refresh with the same single-use refresh token.
 */
async function releaseLease(userId: string, leasedVersion: number, note: ErrorNote, deps: RefreshDeps): Promise<void> {
  try {
    await deps.store.update(userId, { version: leasedVersion }, { lease: null, lastError: note, updatedAt: note.at });
  } catch (error) {
    // Taken over or rewritten meanwhile, or a storage error: the lease expires on its own; nothing is lost.
    deps.logger.warn('could not release refresh lease', { userId, error: error instanceof Error ? error.name : String(error) });
  }
}
