/**
 * Registering a user's Zoom tokens and the user's credential at Recall, and removing both.
 *
 * Order matters: the tokens are stored first, because Recall calls the user's callback URL
 * while it creates the credential; the credential id is recorded after. A failure at Recall
 * leaves the tokens stored and the registration marked `failed`; the same PUT again finishes it.
 */
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, RecallConflictError, UpstreamError } from './errors';
import type { Clock, RecallClient, RecallCredential, SigningKeyProvider, TokenCipher, TokenStore } from './ports';
import { signCallbackUrl } from './signing';
import type { ErrorNote, RecallRegistration, StoredUser, TokenPair } from './token-record';

export interface RegistrationDeps {
  store: TokenStore;
  cipher: TokenCipher;
  recall: RecallClient;
  signingKeys: SigningKeyProvider;
  clock: Clock;
  /** Base of the callback URLs Recall receives: must be reachable by Recall. */
  publicBaseUrl: string;
  oauthAppId: string;
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
  const { created, user } = await storeTokens(userId, input, deps);
  return { created, user: await ensureRecallCredential(user, deps) };
}

/** Stores a new token pair (a new grant): it replaces any stored pair and ends any refresh lease. */
async function storeTokens(userId: string, input: NewTokens, deps: RegistrationDeps): Promise<RegistrationResult> {
  const { store, cipher, clock } = deps;
  const sealed = await cipher.seal(userId, input.tokens);
  for (let attempt = 1; ; attempt++) {
    const now = clock();
    const existing = await store.get(userId, { consistent: true });
    try {
      if (!existing) {
        const user: StoredUser = {
          userId,
          version: 1,
          status: 'active',
          sealed,
          accessTokenExpiresAt: input.accessTokenExpiresAt,
          tokenGeneration: 1,
          createdAt: now,
          updatedAt: now,
          recall: { status: 'pending' },
        };
        await store.create(user);
        return { created: true, user };
      }
      const user = await store.update(userId, { version: existing.version }, {
        status: 'active',
        sealed,
        accessTokenExpiresAt: input.accessTokenExpiresAt,
        tokenGeneration: existing.tokenGeneration + 1,
        reauthRequired: null,
        lastError: null,
        lease: null,
        updatedAt: now,
      });
      return { created: false, user };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/** Makes sure Recall holds a credential pointing at the user's URL signed with the active key. */
async function ensureRecallCredential(user: StoredUser, deps: RegistrationDeps): Promise<StoredUser> {
  const keyring = await deps.signingKeys.keyring();
  const current = user.recall;
  if (current.status === 'registered' && current.credentialId && current.callbackKeyId === keyring.activeKeyId) return user;

  const callbackUrl = signCallbackUrl(deps.publicBaseUrl, user.userId, keyring).toString();
  // Stable across this request's retries (Recall replays a completed duplicate), new for new tokens.
  // createdAt tells a re-created user (tokenGeneration back at 1) from the deleted one: otherwise
  // Recall would replay the deleted credential's 201 for up to an hour.
  const idempotencyKey = uuidFrom(`${user.userId}:${user.createdAt}:${user.tokenGeneration}:${keyring.activeKeyId}`);
  try {
    const credential = await createReplacingConflict(user.userId, callbackUrl, idempotencyKey, deps);
    return await recordRecall(user.userId, { status: 'registered', credentialId: credential.id, callbackKeyId: keyring.activeKeyId }, deps);
  } catch (error) {
    const failure = error instanceof UpstreamError ? error : undefined;
    const note: ErrorNote = {
      at: deps.clock(),
      code: failure?.status ? `recall_${failure.status}` : 'recall_error',
      message: failure?.detail ?? (error instanceof Error ? error.message : 'Recall registration failed'),
    };
    // Keep the old credential id (if any): it is still what Recall holds.
    await recordRecall(user.userId, { ...current, status: 'failed', lastError: note }, deps).catch(() => undefined);
    throw error;
  }
}

/** Recall's conflict answer names the Zoom user but not the credential: find it, delete it, create again, once. */
async function createReplacingConflict(userId: string, callbackUrl: string, idempotencyKey: string, deps: RegistrationDeps) {
  const create = (key: string) => deps.recall.createZoomOAuthCredential({ oauthAppId: deps.oauthAppId, callbackUrl, idempotencyKey: key });
  try {
    return await create(idempotencyKey);
  } catch (error) {
    if (!(error instanceof RecallConflictError)) throw error;
    const stale = await deps.recall.listZoomOAuthCredentials({
      oauthAppId: deps.oauthAppId,
      zoomUserId: error.conflictingZoomUserId ?? error.conflictingZoomAccountId,
    });
    for (const credential of stale) {
      await deps.recall.deleteZoomOAuthCredential(credential.id);
      await markReplaced(credential, userId, deps);
    }
    try {
      // A new key: the first one's conflict answer is cached at Recall.
      return await create(uuidFrom(`${idempotencyKey}:after-conflict`));
    } catch (again) {
      if (again instanceof RecallConflictError) throw new UpstreamError('recall', 'Recall still reports a conflicting credential', 400, again.detail);
      throw again;
    }
  }
}

/**
 * A deleted stale credential may have belonged to another of our users (the same Zoom user
 * registered under another id): that user's record must stop claiming a live credential.
 */
async function markReplaced(credential: RecallCredential, newOwner: string, deps: RegistrationDeps): Promise<void> {
  let formerOwner: string | null = null;
  try {
    formerOwner = credential.callbackUrl ? new URL(credential.callbackUrl).searchParams.get('user_id') : null;
  } catch {
    return;
  }
  if (!formerOwner || formerOwner === newOwner) return;
  const former = await deps.store.get(formerOwner, { consistent: true });
  if (!former || former.recall.credentialId !== credential.id) return;
  const note: ErrorNote = { at: deps.clock(), code: 'recall_replaced', message: `the Zoom user's credential at Recall now belongs to user ${newOwner}` };
  await recordRecall(formerOwner, { status: 'failed', lastError: note }, deps).catch(() => undefined);
}

async function recordRecall(userId: string, recall: RecallRegistration, deps: RegistrationDeps): Promise<StoredUser> {
  for (let attempt = 1; ; attempt++) {
    const existing = await deps.store.get(userId, { consistent: true });
    if (!existing) throw new NotFoundError('user deleted during registration');
    try {
      return await deps.store.update(userId, { version: existing.version }, { recall, updatedAt: deps.clock() });
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= WRITE_ATTEMPTS) throw error;
    }
  }
}

/** Deletes the credential at Recall first (while we still know its id), then the record. */
export async function deleteUser(userId: string, deps: Pick<RegistrationDeps, 'store' | 'recall'>): Promise<void> {
  const existing = await deps.store.get(userId, { consistent: true });
  if (!existing) return;
  if (existing.recall.credentialId) await deps.recall.deleteZoomOAuthCredential(existing.recall.credentialId);
  await deps.store.delete(userId);
}

function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
