/**
 * The stored shape of one user's Zoom credential. Tokens only ever appear here sealed; the
 * access token's expiry stays in clear so freshness is decided without a decrypt.
 */
import { createHash } from 'node:crypto';
import { TokenUnavailableError } from './errors';

/** What the table holds instead of tokens. All binary fields are raw bytes. */
export interface SealedTokens {
  /** Format version of the envelope; part of the AAD (SEALED_FORMAT). */
  formatVersion: number;
  /** The data key, encrypted by KMS. */
  encryptedDataKey: Uint8Array;
  iv: Uint8Array;
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: Uint8Array;
}

/**
 * Whose sealed pair it is: the user, the registration and the token generation of the record that
 * holds it. Bound into the pair's AES-GCM additional data (format 2), so a pair opens only on its
 * own record: not as another user's, not on another registration of the same user (deleted and
 * registered again), not written back after the pair moved on. A StoredUser is one.
 */
export type SealOwner = Pick<StoredUser, 'userId' | 'registrationId' | 'tokenGeneration'>;

/**
 * Sealed-pair formats. 2 binds the owner (SealOwner) and is what every seal writes; 1 bound the
 * user id only and is still opened, for records sealed before format 2 (docs/grant-safety.md
 * says how it is phased out).
 */
export const SEALED_FORMAT = { current: 2, legacy: 1 } as const;

/** The AES-GCM additional data of a pair sealed in `formatVersion` for `owner`. */
export function sealedPairAad(formatVersion: number, owner: SealOwner): Buffer {
  if (formatVersion === SEALED_FORMAT.legacy) return Buffer.from(`zoom-token-vault:v1:${owner.userId}`, 'utf8');
  const bound = JSON.stringify([owner.userId, owner.registrationId, owner.tokenGeneration]);
  return Buffer.from(`zoom-token-vault:v${formatVersion}:${bound}`, 'utf8');
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  scope?: string;
}

/**
 * `active`: tokens usable or refreshable. `reauth_required`: Zoom said the grant is dead.
 * `deauthorized`: the user removed the app at Zoom (Zoom's app_deauthorized event); the tokens
 * are gone from the record (see RemovedTokens), only the fact and its time are kept.
 */
export const USER_STATUSES = ['active', 'reauth_required', 'deauthorized'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/**
 * Where the user's credential at Recall stands. `unhealthy`: Recall reports the credential
 * unhealthy (its token calls failed); the next PUT or re-sync recreates it.
 */
export const RECALL_STATUSES = ['pending', 'registered', 'failed', 'unhealthy'] as const;
export type RecallStatus = (typeof RECALL_STATUSES)[number];

/**
 * What a record holds instead of sealed tokens once they were removed (Zoom deauthorization):
 * when and why, nothing that could be opened or served. A new PUT replaces it with sealed tokens.
 */
export interface RemovedTokens {
  removedAt: number;
  reason: 'zoom_deauthorized';
}

/** The record's token field: sealed tokens, or the tombstone left when they were removed. */
export type StoredTokens = SealedTokens | RemovedTokens;

export function tokensRemoved(tokens: StoredTokens): tokens is RemovedTokens {
  return 'removedAt' in tokens;
}

/** The sealed tokens of a record; throws for a record whose tokens were removed (never served, never refreshed). */
export function sealedTokensOf(user: Pick<StoredUser, 'sealed'>): SealedTokens {
  if (tokensRemoved(user.sealed)) throw new TokenUnavailableError('deauthorized', 'the user deauthorized the app at Zoom; tokens removed');
  return user.sealed;
}

/**
 * Whether `stored` is exactly `sealed`: the same ciphertext (its random IV makes it one write's).
 * How a writer whose answer was lost recognises its own pair on a re-read.
 */
export function sameSealedTokens(stored: StoredTokens, sealed: SealedTokens): boolean {
  if (tokensRemoved(stored)) return false;
  return Buffer.from(stored.iv).equals(Buffer.from(sealed.iv)) && Buffer.from(stored.ciphertext).equals(Buffer.from(sealed.ciphertext));
}

export interface ErrorNote {
  at: number;
  code: string;
  message: string;
}

export interface Lease {
  owner: string;
  expiresAt: number;
}

export interface RecallRegistration {
  status: RecallStatus;
  credentialId?: string;
  /** Signing key id of the callback URL Recall holds; a new active key means re-registering. */
  callbackKeyId?: string;
  lastError?: ErrorNote;
}

export interface StoredUser {
  userId: string;
  /**
   * Random, set when the record is created and never changed: names this registration. A record
   * deleted and created again gets a new one, so a write meant for the old one (a refresh in
   * flight across a DELETE and a new PUT) cannot land on the new one, and the old callback URL,
   * which is signed over it, stops working for good.
   */
  registrationId: string;
  /**
   * Every write adds one. It restarts with a new registration: a condition names the
   * registration with it (WriteCondition), never the version alone.
   */
  version: number;
  status: UserStatus;
  /** Sealed tokens; a tombstone (RemovedTokens) once the user deauthorized the app at Zoom. */
  sealed: StoredTokens;
  /** When the access token expires, ms since the epoch. */
  accessTokenExpiresAt: number;
  /** Counts token pairs: a refresh writes only if the pair it consumed is still the stored one. */
  tokenGeneration: number;
  /**
   * The tokenGeneration the latest registration (PUT) wrote; refreshes leave it. That
   * registration owns the Recall step: an older one still running must not record its outcome.
   */
  registeredGeneration?: number;
  /**
   * Fingerprints of the refresh tokens the latest registrations (PUTs) brought, newest first: a
   * PUT carrying one of them replays an earlier PUT and is no new grant (see registration.ts).
   * Refreshes leave the list alone: the backend never sees a refreshed token, so only the ones it
   * sent can come back, however many refreshes later.
   */
  refreshTokenFingerprints?: string[];
  /**
   * When the grant the record holds was registered (the PUT that stored it), ms since the epoch;
   * refreshes keep it (the same grant). Zoom's deauthorization applies to grants registered
   * before it only. Absent on records from before the field: createdAt stands in.
   */
  grantedAt?: number;
  createdAt: number;
  updatedAt: number;
  lastRefreshAt?: number;
  /** Adaptive policy: when a token was last handed out (recorded at most daily). */
  lastServedAt?: number;
  /**
   * Adaptive policy: when an idle user is next refreshed, only to keep the grant alive. Absent:
   * due by the access token's expiry (every user under the proactive policy).
   */
  refreshDueAt?: number;
  lastError?: ErrorNote;
  /** Set with status reauth_required: when and what Zoom said. */
  reauthRequired?: ErrorNote;
  lease?: Lease;
  recall: RecallRegistration;
  /** The Zoom user id Recall resolved from the token when it created the credential (user-level apps): Zoom's events name it. */
  zoomUserId?: string;
  /** The Zoom account id Recall reported (account-level apps). */
  zoomAccountId?: string;
}

/** One word for the backend: can Recall get a token for this user right now, and if not, why. */
export type UserState = 'active' | 'reauth_required' | 'deauthorized' | 'recall_pending' | 'recall_failed' | 'recall_unhealthy';
export const USER_STATES: readonly UserState[] = [
  'active',
  'reauth_required',
  'deauthorized',
  'recall_pending',
  'recall_failed',
  'recall_unhealthy',
];

export function overallStatus(user: Pick<StoredUser, 'status' | 'recall'>): UserState {
  if (user.status === 'deauthorized') return 'deauthorized';
  if (user.status === 'reauth_required') return 'reauth_required';
  if (user.recall.status !== 'registered') return `recall_${user.recall.status}`;
  return 'active';
}

/** Fields a write may set; `null` removes an optional field. */
export type UserUpdate = {
  [K in Exclude<keyof StoredUser, 'userId' | 'registrationId' | 'version' | 'createdAt'>]?: StoredUser[K] | null;
};

/**
 * What a conditional write depends on. It always names the registration it acts for: a user
 * deleted and registered again is a new registration whose counters (version, token generation)
 * start again, so no counter alone says "still the record I read". The other fields are the
 * identities the write acts on; each one given must hold.
 */
export interface WriteCondition {
  registrationId: string;
  /** Nothing else written to this registration since this version was read (optimistic locking). */
  version?: number;
  /** The stored pair is still this generation: the one a refresh consumed, or a PUT replaces. */
  tokenGeneration?: number;
  /** The grant the latest PUT stored is still this one (`null`: a record from before the field). */
  registeredGeneration?: number | null;
  /** No lease (`null`), or this owner's lease; with `expiresAt`, exactly the lease as read (not a later renewal of it). */
  lease?: null | { owner: string; expiresAt?: number };
  /** The Recall credential the record names (`null`: none). */
  recallCredentialId?: string | null;
}

/** A record written before registration ids existed reads as this one; writes then require the attribute absent. */
export const LEGACY_REGISTRATION_ID = 'legacy';

/** How many registrations' refresh-token fingerprints a record keeps. */
export const REMEMBERED_REFRESH_TOKENS = 10;

/**
 * Names a refresh token without revealing it: the first 16 bytes of its SHA-256, base64url.
 * Safe to keep in clear because refresh tokens are high-entropy: there is no list of likely
 * tokens to hash and compare.
 */
export function refreshTokenFingerprint(refreshToken: string): string {
  return createHash('sha256').update(refreshToken).digest().subarray(0, 16).toString('base64url');
}

/** `remembered` with the fingerprints of `newestFirst` in front, without repeats, cut to the kept number. */
export function rememberRefreshTokens(remembered: readonly string[] | undefined, ...newestFirst: string[]): string[] {
  const fingerprints = [...newestFirst.map(refreshTokenFingerprint), ...(remembered ?? [])];
  return [...new Set(fingerprints)].slice(0, REMEMBERED_REFRESH_TOKENS);
}
