/**
 * The stored shape of one user's Zoom credential. Tokens only ever appear here sealed; the
 * access token's expiry stays in clear so freshness is decided without a decrypt.
 */
import type { SealedTokens } from './ports';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  scope?: string;
}

/** `active`: tokens usable or refreshable. `reauth_required`: Zoom said the grant is dead. */
export type UserStatus = 'active' | 'reauth_required';

/** Where the user's credential at Recall stands. */
export type RecallStatus = 'pending' | 'registered' | 'failed';

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
  /** Optimistic-locking counter; every write adds one. */
  version: number;
  status: UserStatus;
  sealed: SealedTokens;
  /** When the access token expires, ms since the epoch. */
  accessTokenExpiresAt: number;
  /** Counts token pairs: a refresh writes only if the pair it consumed is still the stored one. */
  tokenGeneration: number;
  createdAt: number;
  updatedAt: number;
  lastRefreshAt?: number;
  lastError?: ErrorNote;
  /** Set with status reauth_required: when and what Zoom said. */
  reauthRequired?: ErrorNote;
  lease?: Lease;
  recall: RecallRegistration;
}

/** Fields a write may set; `null` removes an optional field. */
export type UserUpdate = {
  [K in Exclude<keyof StoredUser, 'userId' | 'version' | 'createdAt'>]?: StoredUser[K] | null;
};

/** Which stored state a write depends on. */
export type WriteCondition =
  | { version: number }
  /** The token pair consumed by a refresh is still the stored one. */
  | { tokenGeneration: number };
