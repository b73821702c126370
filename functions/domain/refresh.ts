/**
 * Refreshing one user's tokens at Zoom, at most one refresh at a time per user.
 *
 * Zoom refresh tokens are single-use: a refresh whose answer is lost, or two refreshes at once,
 * can lock the user out. So:
 * - the record is opened and a data key reserved first; then a lease on the user's item (a write
 *   conditioned on the registration, the token generation and the lease as read) admits one
 *   refresher, which sends at once: a lease left behind means its holder may have spent the token;
 * - Zoom is waited for as long as the invocation allows (less the time to save), the lease kept
 *   alive meanwhile; a refresh is not started at all without that much time left;
 * - the new pair is written conditional on the registration and token generation it consumed,
 *   so it lands even if the lease has expired (nobody else can have used that refresh token
 *   successfully), and never over a newer registration;
 * - invalid_grant is believed only after a re-read: a new generation means another worker won,
 *   another lease owner means we were the one taken over.
 * Every write names the registration the attempt leased, never one read later: a user deleted and
 * registered again (perhaps with another Zoom user's grant) is another registration, and nothing
 * of this attempt lands on it. The lease's own writes are conditioned on its owner.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError } from './errors';
import { announce, lifecycleEvents } from './events';
import type {
  Clock,
  EventPublisher,
  Log,
  SealedTokens,
  Sealer,
  TokenCipher,
  TokenStore,
  ZoomRefreshResult,
  ZoomTokenClient,
} from './ports';
import { nextRefreshDue, PROACTIVE, type RefreshPolicy } from './refresh-policy';
import { TIMING } from './timing';
import {
  sameSealedTokens,
  sealedTokensOf,
  type ErrorNote,
  type Lease,
  type StoredUser,
  type TokenPair,
  type UserUpdate,
  type WriteCondition,
} from './token-record';

/** Numbers, not TIMING's literal types: tests override them. */
type RefreshTiming = Record<
  'leaseMs' | 'leaseRenewMs' | 'zoomMinimumWaitMs' | 'saveReserveMs' | 'saveAttemptReserveMs' | 'endReserveMs',
  number
>;

export interface RefreshDeps {
  store: TokenStore;
  cipher: TokenCipher;
  zoom: ZoomTokenClient;
  clock: Clock;
  logger: Log;
  /** When the invocation ends (ms since the epoch): Zoom is waited for, and its answer saved, before then. */
  deadline?: number;
  /** Overrides of the timing budgets (tests). */
  timing?: Partial<RefreshTiming>;
  /** How eagerly tokens are kept fresh (default: proactive). */
  policy?: RefreshPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Told every outcome, for metrics. */
  observe?: (outcome: RefreshOutcome['kind']) => void;
  /** Told when a grant is found dead (the Zoom Grant Dead event); none when absent. */
  events?: EventPublisher;
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
  /** Nothing was spent (Zoom refused before acting, no connection, too little time): try again. */
  | { kind: 'retryable'; error: string; status?: number; retryAfterMs?: number }
  /** The refresh was sent and no answer came within the invocation: the token may be spent. */
  | { kind: 'answer_lost'; error: string }
  /** A previous holder spent the refresh token and its answer never reached storage: the grant is gone. */
  | { kind: 'lost_in_flight'; user: StoredUser }
  /** Zoom rejected our client credentials: an operator must fix the configuration. */
  | { kind: 'misconfigured'; error: string }
  /** A newer registration was stored while we refreshed; ours was discarded. */
  | { kind: 'superseded' }
  /** Zoom answered but the answer could not be stored in time: the new pair exists only here. */
  | { kind: 'unsaved'; error: string; tokens: TokenPair; accessTokenExpiresAt: number };

/** An access token whose lifetime Zoom did not state: assumed short, so it is refreshed early rather than served expired. */
const ASSUMED_LIFETIME_MS = 30 * 60_000;

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Lease owner ids: unique per attempt, so a crashed attempt's lease is never mistaken for ours. */
export function newLeaseOwner(): string {
  return randomUUID();
}

function timingOf(deps: RefreshDeps): RefreshTiming {
  return { ...TIMING, ...deps.timing };
}

/** Without a deadline: a refresh worker's invocation (the only refresher) from now. */
function deadlineOf(deps: RefreshDeps): number {
  return deps.deadline ?? deps.clock() + TIMING.workerTimeoutMs - TIMING.endReserveMs;
}

/**
 * Refreshes `userId` unless its access token already lives until `freshUntil` (ms).
 * Never throws for Zoom's or the lease's outcomes; storage, KMS and client-secret errors before
 * the refresh token is spent propagate (nothing is lost then).
 */
export async function refreshUser(
  userId: string,
  freshUntil: number,
  deps: RefreshDeps,
  options: RefreshOptions = {},
): Promise<RefreshOutcome> {
  const outcome = await refreshUnlessFresh(userId, freshUntil, deps, options);
  deps.observe?.(outcome.kind);
  return outcome;
}

export interface RefreshOptions {
  /** The refresh was asked for by a request that hands out the token: its user is in use. */
  served?: boolean;
}

/** What a leased attempt holds: the record it consumes, the pair in it, a reserved sealer, the lease. */
interface Attempt {
  /** The record as leased: its registration and generation are what every later write is for. */
  leased: StoredUser;
  consumed: TokenPair;
  sealer: Sealer;
  lease: Lease;
  /** The expired lease left behind, if any: its holder may have spent this very refresh token. */
  takenOver?: Lease;
}

async function refreshUnlessFresh(userId: string, freshUntil: number, deps: RefreshDeps, options: RefreshOptions): Promise<RefreshOutcome> {
  const first = await deps.store.get(userId, { consistent: true });
  if (!first) return { kind: 'not_found' };
  const taken = await takeLease(first, freshUntil, deps);
  if ('kind' in taken) return taken;
  const timing = timingOf(deps);
  const waitMs = deadlineOf(deps) - timing.saveReserveMs - deps.clock();
  if (waitMs < timing.zoomMinimumWaitMs) {
    // Zoom's answer might not be saved in time: don't spend the token at all.
    await releaseLease(taken, note(deps, 'refresh_not_started', 'too little invocation time left'), deps);
    return { kind: 'retryable', error: 'insufficient_time' };
  }
  const sentAt = deps.clock();
  const result = await keepLeaseAlive(taken, deps.zoom.refresh(taken.consumed.refreshToken, { timeoutMs: waitMs }), deps);
  return settle(result, taken, sentAt, deps, options);
}

/**
 * Opens the record, reserves a data key and takes the user's lease, unless the token is fresh,
 * the grant dead or the lease held. The write is conditioned on the registration, generation and
 * lease as read: one that loses to a new pair or another lease re-reads and decides again, and
 * one whose answer was lost after it landed (the re-read shows our own lease) is ours.
 */
async function takeLease(first: StoredUser, freshUntil: number, deps: RefreshDeps): Promise<Attempt | RefreshOutcome> {
  let user: StoredUser | undefined = first;
  const owner = newLeaseOwner();
  for (let attempt = 1; ; attempt++) {
    if (!user) return { kind: 'not_found' };
    const blocked = blockedOutcome(user, freshUntil, deps.clock());
    if (blocked) return blocked;
    const lease = { owner, expiresAt: deps.clock() + timingOf(deps).leaseMs };
    const sent: Omit<Attempt, 'leased'> = { ...(await openFor(user, deps)), lease, ...(user.lease ? { takenOver: user.lease } : {}) };
    const asRead: WriteCondition = {
      registrationId: user.registrationId,
      tokenGeneration: user.tokenGeneration,
      lease: user.lease ? { owner: user.lease.owner, expiresAt: user.lease.expiresAt } : null,
    };
    try {
      return { ...sent, leased: await deps.store.update(user.userId, asRead, { lease }) };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const current: StoredUser | undefined = await deps.store.get(user.userId, { consistent: true });
      // Ours landed, and another write came before the SDK's re-send: still the pair this attempt opened.
      if (current?.lease?.owner === owner && sameGrantState(current, user)) return { ...sent, leased: current };
      if (attempt >= 3) return { kind: 'lease_held', user: current ?? user };
      user = current;
    }
  }
}

/** The same registration and token pair (generation). */
function sameGrantState(a: StoredUser, b: StoredUser): boolean {
  return a.registrationId === b.registrationId && a.tokenGeneration === b.tokenGeneration;
}

function blockedOutcome(user: StoredUser, freshUntil: number, now: number): RefreshOutcome | undefined {
  // No grant to refresh: dead, or removed with the user's deauthorization.
  if (user.status === 'reauth_required' || user.status === 'deauthorized') return { kind: 'grant_dead', user };
  if (user.accessTokenExpiresAt >= freshUntil) return { kind: 'fresh', user };
  if (user.lease !== undefined && user.lease.expiresAt > now) return { kind: 'lease_held', user };
  return undefined;
}

/**
 * The pair to spend, a reserved data key for the answer and Zoom's client ready to send: all
 * before the lease, so a lease means "sending".
 */
async function openFor(user: StoredUser, deps: RefreshDeps): Promise<{ consumed: TokenPair; sealer: Sealer }> {
  const consumed = await deps.cipher.open(user, sealedTokensOf(user));
  const sealer = await deps.cipher.prepare();
  await deps.zoom.ready();
  return { consumed, sealer };
}

/**
 * Waits for `work` while extending the lease every `leaseRenewMs`, so no other worker takes
 * over (and spends the same token) while Zoom is still answering us. Real timers: the lease
 * is about wall-clock time whatever clock the domain is given.
 */
async function keepLeaseAlive<T>(attempt: Attempt, work: Promise<T>, deps: RefreshDeps): Promise<T> {
  const { leaseMs, leaseRenewMs } = timingOf(deps);
  let settled = false;
  let ours = true;
  void work.finally(() => (settled = true)).catch(() => undefined);
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), leaseRenewMs)));
    const first = await Promise.race([work.then(() => 'done' as const), tick]).finally(() => clearTimeout(timer));
    if (first === 'done' || settled) return work;
    if (ours) ours = await renewLease(attempt, deps.clock() + leaseMs, deps);
  }
}

/**
 * Extends our lease, on condition that it is still ours on the registration we leased. False when
 * it is not (a re-registration, a new grant or a takeover ended it): nothing to keep alive.
 */
async function renewLease(attempt: Attempt, expiresAt: number, deps: RefreshDeps): Promise<boolean> {
  const { userId, registrationId } = attempt.leased;
  const lease = { owner: attempt.lease.owner, expiresAt };
  try {
    await deps.store.update(userId, { registrationId, lease: { owner: lease.owner } }, { lease });
    attempt.lease = lease;
    return true;
  } catch (error) {
    const ended = error instanceof ConflictError;
    deps.logger.warn(ended ? 'refresh lease ended by another write; not renewed' : 'could not extend refresh lease', { userId });
    return !ended;
  }
}

async function settle(
  result: ZoomRefreshResult,
  attempt: Attempt,
  sentAt: number,
  deps: RefreshDeps,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const userId = attempt.leased.userId;
  switch (result.kind) {
    case 'ok':
      return saveAnswer(result, attempt, sentAt, deps, options);
    case 'grant_dead':
      return judgeInvalidGrant(result, attempt, deps);
    case 'ambiguous': {
      // The token may be spent: nobody may use it until the lease runs out, and whoever then takes
      // over knows (takenOver) that an invalid_grant means this answer was lost, not a revocation.
      await releaseLease(attempt, note(deps, 'zoom_answer_lost', result.error), deps, { expiresAt: deps.clock() });
      deps.logger.error('refresh sent but no answer came; the refresh token may be spent', { userId, zoomError: result.error });
      return { kind: 'answer_lost', error: result.error };
    }
    case 'retryable':
    case 'misconfigured': {
      const code = result.kind === 'retryable' ? 'zoom_unavailable' : 'zoom_misconfigured';
      await releaseLease(attempt, note(deps, code, result.error), deps);
      const log = result.kind === 'retryable' ? deps.logger.warn : deps.logger.error;
      log.call(deps.logger, 'refresh failed', { userId, outcome: result.kind, zoomError: result.error, zoomStatus: result.status });
      if (result.kind === 'misconfigured') return { kind: 'misconfigured', error: result.error };
      return {
        kind: 'retryable',
        error: result.error,
        ...(result.status !== undefined ? { status: result.status } : {}),
        ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
      };
    }
  }
}

/** The access token's expiry: Zoom's expires_in counted from when we sent, else the token's own `exp`, else a short guess. */
function expiryOf(result: Extract<ZoomRefreshResult, { kind: 'ok' }>, sentAt: number, deps: RefreshDeps, userId: string): number {
  if (result.expiresInSeconds !== undefined) return sentAt + result.expiresInSeconds * 1000;
  deps.logger.warn('Zoom answered without a usable expires_in', { userId, expirySource: result.tokenExpiresAt ? 'jwt_exp' : 'assumed' });
  return result.tokenExpiresAt ?? sentAt + ASSUMED_LIFETIME_MS;
}

async function saveAnswer(
  result: Extract<ZoomRefreshResult, { kind: 'ok' }>,
  attempt: Attempt,
  sentAt: number,
  deps: RefreshDeps,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const { leased, consumed } = attempt;
  const userId = leased.userId;
  const now = deps.clock();
  const tokens: TokenPair = { ...result.tokens, scope: result.tokens.scope ?? consumed.scope };
  const accessTokenExpiresAt = expiryOf(result, sentAt, deps, userId);
  const lastServedAt = options.served && deps.policy?.kind === 'adaptive' ? now : leased.lastServedAt;
  const saved = await saveRefreshedTokens(
    attempt,
    tokens,
    {
      status: 'active',
      accessTokenExpiresAt,
      refreshDueAt: nextRefreshDue(deps.policy ?? PROACTIVE, lastServedAt, now) ?? null,
      ...(lastServedAt !== leased.lastServedAt ? { lastServedAt } : {}),
      tokenGeneration: leased.tokenGeneration + 1,
      lastRefreshAt: now,
      lastError: null,
      reauthRequired: null,
      lease: null,
      updatedAt: now,
    },
    deps,
  );
  if (saved.kind === 'unsaved') return { ...saved, tokens, accessTokenExpiresAt };
  if (saved.kind !== 'saved') return saved;
  deps.logger.info('token refreshed', { userId, tokenGeneration: leased.tokenGeneration + 1 });
  return { kind: 'refreshed', user: saved.user, tokens };
}

/**
 * Zoom said invalid_grant. Believed only after a re-read: a new generation means another
 * worker won; another lease owner means our lease ran out before we sent and someone took
 * over (not our verdict to give); a lease we took over from a holder that had sent means
 * that holder's answer was lost in flight.
 */
async function judgeInvalidGrant(
  result: Extract<ZoomRefreshResult, { kind: 'grant_dead' }>,
  attempt: Attempt,
  deps: RefreshDeps,
): Promise<RefreshOutcome> {
  const { leased, lease } = attempt;
  const userId = leased.userId;
  const current = await deps.store.get(userId, { consistent: true });
  if (!current) return { kind: 'not_found' };
  if (current.registrationId !== leased.registrationId) return { kind: 'superseded' };
  if (current.tokenGeneration !== leased.tokenGeneration) {
    deps.logger.info('refresh lost the race; the winner stored new tokens', { userId });
    return { kind: 'fresh', user: current };
  }
  if (current.lease?.owner !== lease.owner) {
    deps.logger.warn('invalid_grant after our lease was taken over; leaving the verdict to its holder', { userId });
    return { kind: 'lease_held', user: current };
  }
  if (attempt.takenOver && holderMayStillSave(attempt.takenOver, deps)) {
    // The holder we took over from may be alive (its lease renewals failing) and about to store
    // the pair it got: no verdict yet. Our own expired lease stays as the mark; the next attempt,
    // once no holder can be alive, decides.
    await releaseLease(attempt, note(deps, 'zoom_invalid_grant_unconfirmed', result.reason ?? result.error), deps, {
      expiresAt: deps.clock(),
    });
    deps.logger.warn('invalid_grant after a lease takeover; holder may still be saving, verdict deferred', { userId });
    return { kind: 'retryable', error: 'invalid_grant_unconfirmed' };
  }
  const lostInFlight = attempt.takenOver !== undefined;
  const verdict = note(
    deps,
    lostInFlight ? 'lost_in_flight' : result.error,
    lostInFlight ? 'a refresh was sent and its answer never reached storage' : (result.reason ?? result.error),
  );
  try {
    const dead = await deps.store.update(
      userId,
      { registrationId: leased.registrationId, tokenGeneration: leased.tokenGeneration, lease: { owner: lease.owner } },
      {
        status: 'reauth_required',
        reauthRequired: verdict,
        lastError: verdict,
        lease: null,
        updatedAt: verdict.at,
      },
    );
    deps.logger.warn(lostInFlight ? 'grant lost in flight; user must re-authorize' : 'grant is dead; user must re-authorize', {
      userId,
      zoomError: result.error,
      zoomReason: result.reason,
    });
    // Published where the verdict is written: once per death, not for every later look at a dead user.
    await announce(deps.events, lifecycleEvents.grantDead(dead, verdict.at, verdict.code));
    return lostInFlight ? { kind: 'lost_in_flight', user: dead } : { kind: 'grant_dead', user: dead };
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return { kind: 'superseded' };
  }
}

/**
 * Whether the worker that held `lease` may still be running: it renewed the lease until
 * `leaseMs` before its expiry, and no invocation that refreshes lives longer than a worker's.
 */
function holderMayStillSave(lease: Lease, deps: RefreshDeps): boolean {
  const { leaseMs } = timingOf(deps);
  return lease.expiresAt - leaseMs + TIMING.workerTimeoutMs > deps.clock();
}

type SaveResult = { kind: 'saved'; user: StoredUser } | { kind: 'superseded' } | { kind: 'unsaved'; error: string };

/**
 * A successful Zoom answer must land: the write is retried on any error until the invocation's
 * time is spent, with the data key reserved before the token was spent (no KMS call here).
 * No attempt starts so close to the end that the function's timeout could cut it off.
 */
async function saveRefreshedTokens(
  attempt: Attempt,
  tokens: TokenPair,
  update: Omit<UserUpdate, 'sealed'>,
  deps: RefreshDeps,
): Promise<SaveResult> {
  const { userId, registrationId, tokenGeneration } = attempt.leased;
  const { saveAttemptReserveMs, endReserveMs } = timingOf(deps);
  const sleep = deps.sleep ?? defaultSleep;
  const lastStart = deadlineOf(deps) - endReserveMs - saveAttemptReserveMs;
  // Sealed for the record as this save writes it: the leased registration, the next generation.
  const sealed = attempt.sealer.seal({ userId, registrationId, tokenGeneration: tokenGeneration + 1 }, tokens);
  let delay = 50;
  for (let tries = 1; ; tries++) {
    try {
      return { kind: 'saved', user: await deps.store.update(userId, { registrationId, tokenGeneration }, { ...update, sealed }) };
    } catch (error) {
      if (error instanceof ConflictError) return landedOrSuperseded(userId, registrationId, sealed, deps);
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (deps.clock() + delay >= lastStart) {
        // The only copy of the new refresh token is in this process. Operators are alerted
        // (RefreshResultUnsaved); the user will need to re-authorize if this process ends now.
        deps.logger.error('refreshed tokens could not be stored', { userId, attempts: tries, error: message });
        return { kind: 'unsaved', error: message };
      }
      deps.logger.warn('storing refreshed tokens failed; retrying', { userId, attempt: tries, error: message });
      await sleep(delay);
      delay = Math.min(delay * 2, 2_000);
    }
  }
}

/**
 * The save's condition failed: either our own write landed (its answer lost, and another write
 * followed before the SDK sent it again: the stored ciphertext is ours, byte for byte) or a new
 * grant or registration replaced the pair we consumed.
 */
async function landedOrSuperseded(userId: string, registrationId: string, sealed: SealedTokens, deps: RefreshDeps): Promise<SaveResult> {
  const current = await deps.store.get(userId, { consistent: true });
  if (current?.registrationId === registrationId && sameSealedTokens(current.sealed, sealed)) return { kind: 'saved', user: current };
  deps.logger.warn('refreshed tokens superseded by a newer registration; discarded', { userId });
  return { kind: 'superseded' };
}

function note(deps: RefreshDeps, code: string, message: string): ErrorNote {
  return { at: deps.clock(), code, message };
}

/**
 * Ends our lease (or, with `keep`, leaves it behind expired, as a mark that a refresh was sent),
 * only while it is ours on the registration we leased: once our lease has expired another worker
 * may hold the user's lease, and clearing it would admit a second refresh with the same token.
 */
async function releaseLease(attempt: Attempt, error: ErrorNote, deps: RefreshDeps, keep?: { expiresAt: number }): Promise<void> {
  const { userId, registrationId } = attempt.leased;
  const lease = keep ? { owner: attempt.lease.owner, expiresAt: keep.expiresAt } : null;
  try {
    await deps.store.update(
      userId,
      { registrationId, lease: { owner: attempt.lease.owner } },
      { lease, lastError: error, updatedAt: error.at },
    );
  } catch (failure) {
    // Taken over or rewritten meanwhile, or a storage error: the lease expires on its own; nothing is lost.
    deps.logger.warn('could not release refresh lease', { userId, error: failure instanceof Error ? failure.name : String(failure) });
  }
}
