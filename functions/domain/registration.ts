/**
 * Registering a user's Zoom tokens and the user's credential at Recall, and removing both.
 *
 * Order matters: the tokens are stored first, because Recall calls the user's callback URL
 * while it creates the credential; the credential id is recorded after. A failure at Recall
 * leaves the tokens stored and the registration marked `failed`; the same PUT again finishes it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, RecallConflictError, TokenUnavailableError, UpstreamError } from './errors';
import { announce, lifecycleEvents } from './events';
import type {
  Clock,
  EventPublisher,
  RecallClient,
  RecallCredential,
  SealedTokens,
  SigningKeyProvider,
  TokenCipher,
  TokenStore,
} from './ports';
import { signCallbackUrl } from './signing';
import {
  LEGACY_REGISTRATION_ID,
  refreshTokenFingerprint,
  rememberRefreshTokens,
  sameSealedTokens,
  type ErrorNote,
  type RecallRegistration,
  type StoredUser,
  type TokenPair,
  type UserUpdate,
  type WriteCondition,
} from './token-record';

export interface RegistrationDeps {
  store: TokenStore;
  cipher: TokenCipher;
  recall: RecallClient;
  signingKeys: SigningKeyProvider;
  clock: Clock;
  /** The callback route's URL (no query) Recall receives, signed per user: must be reachable by Recall. */
  callbackUrl: string;
  oauthAppId: string;
  /** Lifecycle events (registered, Recall credential failed or replaced, deleted); none when absent. */
  events?: EventPublisher;
}

export interface NewTokens {
  tokens: TokenPair;
  accessTokenExpiresAt: number;
}

export interface RegistrationResult {
  created: boolean;
  user: StoredUser;
}

/** Optimistic-locking retries before giving up on a hot item. */
const WRITE_ATTEMPTS = 5;

export async function registerUser(userId: string, input: NewTokens, deps: RegistrationDeps): Promise<RegistrationResult> {
  const { created, stored, user } = await storeTokens(userId, input, deps);
  // Tokens of a grant Zoom already ended (replayed after the deauthorization): nothing to register.
  if (!stored) refuseDeauthorized(user);
  const reason = created ? 'created' : 'new_tokens';
  let registered: StoredUser;
  try {
    // Recall fetches the token through the callback while it creates the credential, and may echo it.
    registered = await ensureRecallCredential(user, deps, [input.tokens.accessToken, input.tokens.refreshToken]);
  } catch (error) {
    // The tokens are stored whatever Recall said (the Recall failure has its own event).
    if (stored && !(error instanceof NotFoundError)) {
      await announce(deps.events, lifecycleEvents.userRegistered({ ...user, recall: { status: 'failed' } }, deps.clock(), reason));
    }
    throw error;
  }
  // A replayed PUT (tokens already held) registers nothing new.
  if (stored) await announce(deps.events, lifecycleEvents.userRegistered(registered, deps.clock(), reason));
  return { created, user: registered };
}

/**
 * Stores a new token pair (a new grant): it replaces any stored pair and ends any refresh lease.
 *
 * A refresh token the record holds or has held means a replayed PUT (say, sent again after a
 * 502), not a new grant: nothing is written and only the Recall step runs again. Writing it
 * would be harmless at best (the current token) and fatal at worst: Zoom's refresh tokens are
 * single-use, so one a refresh has consumed meanwhile would replace its live successor and the
 * next refresh would end the grant.
 */
async function storeTokens(userId: string, input: NewTokens, deps: RegistrationDeps): Promise<RegistrationResult & { stored: boolean }> {
  const { store, cipher, clock } = deps;
  const fingerprint = refreshTokenFingerprint(input.tokens.refreshToken);
  /** Our last write: recognised on a re-read when it landed and its answer was lost. */
  let sent: { sealed: SealedTokens; created: boolean } | undefined;
  for (let attempt = 1; ; attempt++) {
    const now = clock();
    const existing = await store.get(userId, { consistent: true });
    if (sent && existing && sameSealedTokens(existing.sealed, sent.sealed)) return { created: sent.created, stored: true, user: existing };
    if (existing?.refreshTokenFingerprints?.includes(fingerprint)) return { created: false, stored: false, user: existing };
    const refreshTokenFingerprints = rememberRefreshTokens(existing?.refreshTokenFingerprints, input.tokens.refreshToken);
    // Sealed for the record this attempt writes: its registration and its next token generation.
    const owner = {
      userId,
      registrationId: existing?.registrationId ?? randomUUID(),
      tokenGeneration: (existing?.tokenGeneration ?? 0) + 1,
    };
    const sealed = await cipher.seal(owner, input.tokens);
    sent = { sealed, created: !existing };
    try {
      if (!existing) {
        const user = newRecord(owner, input, sealed, refreshTokenFingerprints, now);
        await store.create(user);
        return { created: true, stored: true, user };
      }
      const user = await store.update(
        userId,
        // The pair it replaces: a refresh landing meanwhile is seen (and its fingerprint list kept) on the next try.
        { registrationId: existing.registrationId, tokenGeneration: existing.tokenGeneration },
        {
          status: 'active',
          sealed,
          accessTokenExpiresAt: input.accessTokenExpiresAt,
          tokenGeneration: owner.tokenGeneration,
          registeredGeneration: owner.tokenGeneration,
          grantedAt: now,
          refreshTokenFingerprints,
          reauthRequired: null,
          lastError: null,
          lease: null,
          updatedAt: now,
          // A deauthorized record's credential is being deleted at Recall: this grant gets its own.
          ...(existing.status === 'deauthorized' ? { recall: { status: 'pending' } } : {}),
        },
      );
      return { created: false, stored: true, user };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/** A first registration's record: generation 1, Recall still to do. */
function newRecord(
  owner: { userId: string; registrationId: string },
  input: NewTokens,
  sealed: SealedTokens,
  refreshTokenFingerprints: string[],
  now: number,
): StoredUser {
  return {
    ...owner,
    version: 1,
    status: 'active',
    sealed,
    accessTokenExpiresAt: input.accessTokenExpiresAt,
    tokenGeneration: 1,
    registeredGeneration: 1,
    grantedAt: now,
    refreshTokenFingerprints,
    createdAt: now,
    updatedAt: now,
    recall: { status: 'pending' },
  };
}

/**
 * The Recall step alone, for a user whose tokens are stored: after a signing-key rotation (the
 * credential must call a URL signed with the new key) or when Recall lost the credential.
 */
export async function syncRecallCredential(userId: string, deps: RegistrationDeps): Promise<StoredUser> {
  const user = await deps.store.get(userId, { consistent: true });
  if (!user) throw new NotFoundError('unknown user');
  refuseDeauthorized(user);
  return ensureRecallCredential(user, deps);
}

/** A deauthorized user has no tokens Recall could validate: only a PUT with new tokens helps. */
function refuseDeauthorized(user: StoredUser): void {
  if (user.status === 'deauthorized')
    throw new TokenUnavailableError('deauthorized', 'the user deauthorized the app at Zoom; PUT new tokens');
}

/**
 * Makes sure Recall holds a credential pointing at the user's URL, signed with the active key
 * for this registration.
 *
 * Recall allows one credential per Zoom user and has no update: a new URL (a new key, a new
 * registration) means the old credential is deleted, then a new one created. If the create
 * fails after that delete, the user is recorded `recall_failed` with no credential, never
 * left claiming one that is gone.
 */
async function ensureRecallCredential(user: StoredUser, deps: RegistrationDeps, redact: string[] = []): Promise<StoredUser> {
  const keyring = await deps.signingKeys.keyring();
  const { recall: current, userId } = user;
  const step = recallStep(user, deps);
  const deleted: string[] = [];
  try {
    const kept = await keepHeldCredential(user, keyring.activeKeyId, step, deleted, deps);
    if (kept) return kept;
    const callbackUrl = signCallbackUrl(deps.callbackUrl, user, keyring).toString();
    const credential = await createReplacingConflict(
      { userId, callbackUrl, idempotencyKey: idempotencyKeyFor(user, keyring.activeKeyId), redact },
      step.stillOurs,
      deleted,
      deps,
    );
    if (!credential) return (await deps.store.get(userId, { consistent: true })) ?? user;
    const outcome = await step.record(
      { status: 'registered', credentialId: credential.id, callbackKeyId: keyring.activeKeyId },
      zoomIdentity(credential),
    );
    // Deleted, or replaced by a newer registration, while Recall created ours: nothing records it.
    if (!outcome.recorded) await forgetCredential(credential.id, userId, deps);
    if (!outcome.user) throw new NotFoundError('user deleted during registration');
    return outcome.user;
  } catch (error) {
    const stillHeld = current.credentialId !== undefined && !deleted.includes(current.credentialId);
    const failed: RecallRegistration = {
      status: 'failed',
      lastError: recallFailureNote(error, deps),
      ...(stillHeld ? { credentialId: current.credentialId, callbackKeyId: current.callbackKeyId } : {}),
    };
    const outcome = await step.record(failed).catch(() => undefined);
    if (outcome?.recorded && outcome.user && outcome.previous?.recall.status !== 'failed') {
      await announce(
        deps.events,
        lifecycleEvents.recallCredentialFailed(outcome.user, deps.clock(), failed.lastError?.code ?? 'recall_error'),
      );
    }
    throw error;
  }
}

/**
 * The credential the record names, when Recall still has it, healthy and calling this
 * registration's URL signed with the active key: then nothing is created. The record may be out
 * of date (the credential deleted by hand, or by a concurrent registration's conflict path).
 */
async function keepHeldCredential(
  user: StoredUser,
  activeKeyId: string,
  step: ReturnType<typeof recallStep>,
  deleted: string[],
  deps: RegistrationDeps,
): Promise<StoredUser | undefined> {
  const current = user.recall;
  if (!current.credentialId || current.callbackKeyId !== activeKeyId) return undefined;
  const held = await deps.recall.getZoomOAuthCredential(current.credentialId);
  if (held?.status === 'unhealthy') {
    // Recall no longer gets tokens through it (the grant was revoked, or our callback failed
    // it): the tokens just stored may work, so the credential is made anew. Recall allows one
    // per Zoom user: the unhealthy one goes first.
    await deps.recall.deleteZoomOAuthCredential(held.id);
    deleted.push(held.id);
    return undefined;
  }
  if (!held || !callsBack(held, user, activeKeyId)) return undefined;
  if (current.status === 'registered' && knowsZoomUser(user, held)) return user;
  const kept = await step.record({ status: 'registered', credentialId: held.id, callbackKeyId: activeKeyId }, zoomIdentity(held));
  if (!kept.user) throw new NotFoundError('user deleted during registration');
  return kept.user;
}

/** The Zoom user (and account) Recall resolved for a credential: what Zoom's events will name. */
function zoomIdentity(credential: RecallCredential): Pick<UserUpdate, 'zoomUserId' | 'zoomAccountId'> {
  return {
    ...(credential.zoomUserId ? { zoomUserId: credential.zoomUserId } : {}),
    ...(credential.zoomAccountId ? { zoomAccountId: credential.zoomAccountId } : {}),
  };
}

/** Whether the record already names the Zoom user Recall reports (records older than that field learn it on the next PUT). */
function knowsZoomUser(user: StoredUser, credential: RecallCredential): boolean {
  return (
    (credential.zoomUserId ?? user.zoomUserId) === user.zoomUserId &&
    (credential.zoomAccountId ?? user.zoomAccountId) === user.zoomAccountId
  );
}

/**
 * This registration's view of the Recall step: a newer registration (a PUT with other tokens,
 * or the user deleted and registered again) started meanwhile owns it, and our outcome may
 * already be out of date (it may even have deleted the credential we created).
 */
function recallStep(user: StoredUser, deps: RegistrationDeps) {
  const ours = (stored: StoredUser) =>
    stored.registrationId === user.registrationId && stored.registeredGeneration === user.registeredGeneration;
  // The write names the registration and grant it records for (an identity, never the version).
  const claim = (stored: StoredUser): WriteCondition | undefined =>
    ours(stored) ? { registrationId: stored.registrationId, registeredGeneration: stored.registeredGeneration ?? null } : undefined;
  return {
    record: (recall: RecallRegistration, extra: RecallExtra = {}) => recordRecall(user.userId, recall, deps, claim, extra),
    stillOurs: async () => {
      const stored = await deps.store.get(user.userId, { consistent: true });
      return stored !== undefined && ours(stored);
    },
  };
}

/**
 * Stable across this request's retries (Recall replays a completed duplicate) and shared by
 * concurrent PUTs of the same tokens. New for new tokens, a new key, a new registration, and
 * after every recorded outcome (the Recall state in it): a replayed PUT keeps the token
 * generation and must not get the failed attempt's cached answer for an hour.
 */
function idempotencyKeyFor(user: StoredUser, keyId: string): string {
  const { status, credentialId, lastError } = user.recall;
  return uuidFrom(
    `${user.userId}:${user.registrationId}:${user.tokenGeneration}:${keyId}:${status}:${credentialId ?? ''}:${lastError?.at ?? ''}`,
  );
}

function recallFailureNote(error: unknown, deps: Pick<RegistrationDeps, 'clock'>): ErrorNote {
  const failure = error instanceof UpstreamError ? error : undefined;
  return {
    at: deps.clock(),
    code: failure?.status ? `recall_${failure.status}` : 'recall_error',
    message: failure?.detail ?? (error instanceof Error ? error.message : 'Recall registration failed'),
  };
}

/** A credential we created that no record claims: it would call a URL that answers 403 forever. */
async function forgetCredential(credentialId: string, userId: string, deps: RegistrationDeps): Promise<void> {
  const stored = await deps.store.get(userId, { consistent: true });
  if (stored?.recall.credentialId === credentialId) return;
  await deps.recall.deleteZoomOAuthCredential(credentialId);
}

/** The query (user_id, reg, kid, sig) of the URL a credential calls, when Recall shows a parsable one. */
function callbackQuery(credential: RecallCredential): URLSearchParams | undefined {
  try {
    return credential.callbackUrl ? new URL(credential.callbackUrl).searchParams : undefined;
  } catch {
    return undefined;
  }
}

function callsBack(credential: RecallCredential, user: StoredUser, keyId: string): boolean {
  const query = callbackQuery(credential);
  const registration = query?.get('reg') ?? LEGACY_REGISTRATION_ID;
  return query?.get('user_id') === user.userId && query.get('kid') === keyId && registration === user.registrationId;
}

/**
 * Recall's conflict answer names the Zoom user but not the credential: find it, delete it, create
 * again, once. Undefined when a newer registration took over before anything was deleted.
 */
async function createReplacingConflict(
  request: { userId: string; callbackUrl: string; idempotencyKey: string; redact: string[] },
  stillOurs: () => Promise<boolean>,
  deleted: string[],
  deps: RegistrationDeps,
): Promise<RecallCredential | undefined> {
  const { userId, callbackUrl, idempotencyKey, redact } = request;
  const create = (key: string) =>
    deps.recall.createZoomOAuthCredential({ oauthAppId: deps.oauthAppId, callbackUrl, idempotencyKey: key, redact });
  try {
    return await create(idempotencyKey);
  } catch (error) {
    if (!(error instanceof RecallConflictError)) throw error;
    const stale = await conflictingCredentials(error, deps);
    if (!(await stillOurs())) return undefined;
    for (const credential of stale) {
      await deps.recall.deleteZoomOAuthCredential(credential.id);
      deleted.push(credential.id);
      await markReplaced(credential, userId, deps);
    }
    try {
      // A new key: the first one's conflict answer is cached at Recall.
      return await create(uuidFrom(`${idempotencyKey}:after-conflict`));
    } catch (again) {
      if (again instanceof RecallConflictError)
        throw new UpstreamError('recall', 'Recall still reports a conflicting credential', 400, again.detail);
      throw again;
    }
  }
}

/**
 * The credentials a conflict answer is about: those of the Zoom user it names (user-level apps)
 * or of the Zoom account (account-level apps; the list's user_id filter cannot name an account,
 * so the app's whole list is read). Checked here too, whatever the list returned: only these are
 * ever deleted, and when none is found nothing is.
 */
async function conflictingCredentials(conflict: RecallConflictError, deps: RegistrationDeps): Promise<RecallCredential[]> {
  const { conflictingZoomUserId: zoomUserId, conflictingZoomAccountId: zoomAccountId } = conflict;
  const listed = await deps.recall.listZoomOAuthCredentials({ oauthAppId: deps.oauthAppId, zoomUserId });
  const matching = listed.filter((credential) =>
    zoomUserId !== undefined ? credential.zoomUserId === zoomUserId : credential.zoomAccountId === zoomAccountId,
  );
  if (matching.length === 0) {
    const owner = zoomUserId !== undefined ? `Zoom user ${zoomUserId}` : `Zoom account ${zoomAccountId}`;
    throw new UpstreamError(
      'recall',
      `Recall reports a conflicting credential for ${owner} but lists none; nothing deleted`,
      400,
      conflict.detail,
    );
  }
  return matching;
}

/**
 * A deleted stale credential may have belonged to another of our users (the same Zoom user
 * registered under another id): that user's record must stop claiming a live credential.
 */
async function markReplaced(credential: RecallCredential, newOwner: string, deps: RegistrationDeps): Promise<void> {
  const formerOwner = callbackQuery(credential)?.get('user_id');
  if (!formerOwner || formerOwner === newOwner) return;
  const note: ErrorNote = {
    at: deps.clock(),
    code: 'recall_replaced',
    message: `the Zoom user's credential at Recall now belongs to user ${newOwner}`,
  };
  const stillClaimsIt = (former: StoredUser): WriteCondition | undefined =>
    former.recall.credentialId === credential.id ? { registrationId: former.registrationId, recallCredentialId: credential.id } : undefined;
  const outcome = await recordRecall(formerOwner, { status: 'failed', lastError: note }, deps, stillClaimsIt).catch(() => undefined);
  if (outcome?.recorded && outcome.user) await announce(deps.events, lifecycleEvents.recallCredentialReplaced(outcome.user, note.at));
}

/** Fields written with a Recall outcome: the Zoom identity Recall reported. */
type RecallExtra = Pick<UserUpdate, 'zoomUserId' | 'zoomAccountId'>;

/**
 * Writes the user's Recall state while `claim` gives a condition for the stored record (the
 * identity the write is for; undefined: it no longer applies). `recorded` says whether it was
 * written; `user` is the record as it now is (undefined: deleted).
 */
export async function recordRecall(
  userId: string,
  recall: RecallRegistration,
  deps: Pick<RegistrationDeps, 'store' | 'clock'>,
  claim: (stored: StoredUser) => WriteCondition | undefined,
  extra: RecallExtra = {},
): Promise<{ user?: StoredUser; recorded: boolean; previous?: StoredUser }> {
  for (let attempt = 1; ; attempt++) {
    const existing = await deps.store.get(userId, { consistent: true });
    const condition = existing && claim(existing);
    if (!condition) return { user: existing, recorded: false };
    try {
      const user = await deps.store.update(userId, condition, { ...extra, recall, updatedAt: deps.clock() });
      return { user, recorded: true, previous: existing };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/**
 * Deletes the credential at Recall first (while we still know its id), then the record, on
 * condition that it is still the registration read and names no other credential: a PUT or a
 * re-sync that recorded a new credential meanwhile gets that one deleted too, on the next round.
 * A delete whose answer was lost, sent again, finds nothing to delete: deleted all the same.
 */
export async function deleteUser(
  userId: string,
  deps: Pick<RegistrationDeps, 'store' | 'recall'> & Partial<Pick<RegistrationDeps, 'clock' | 'events'>>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const existing = await deps.store.get(userId, { consistent: true });
    if (!existing) return;
    const credentialId = existing.recall.credentialId;
    if (credentialId) await deps.recall.deleteZoomOAuthCredential(credentialId);
    try {
      await deps.store.delete(userId, { registrationId: existing.registrationId, recallCredentialId: credentialId ?? null });
      await announce(deps.events, lifecycleEvents.userDeleted(userId, (deps.clock ?? Date.now)()));
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
