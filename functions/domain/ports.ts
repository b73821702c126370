/**
 * The seams between the domain and the outside world. The domain only ever sees these
 * interfaces; adapters (DynamoDB, KMS, Recall, Zoom) and test doubles implement them.
 */
import type { StoredUser, TokenPair, UserUpdate, WriteCondition } from './token-record';

type LogFunction = (message: string, ...attributes: Record<string, unknown>[]) => void;

/** The slice of a structured logger (Powertools Logger) the domain uses. */
export interface Log {
  info: LogFunction;
  warn: LogFunction;
  error: LogFunction;
}

/** Milliseconds since the epoch. Injected so tests can move time. */
export type Clock = () => number;

/** Seals token pairs for one user: envelope encryption with the user id bound as AAD. */
export interface TokenCipher {
  /** Makes sure sealing needs no KMS call for a while: done before a refresh consumes a refresh token. */
  prepare(): Promise<void>;
  seal(userId: string, tokens: TokenPair): Promise<SealedTokens>;
  open(userId: string, sealed: SealedTokens): Promise<TokenPair>;
}

/** What the table holds instead of tokens. All binary fields are raw bytes. */
export interface SealedTokens {
  /** Format version of the envelope; part of the AAD. */
  formatVersion: number;
  /** The data key, encrypted by KMS. */
  encryptedDataKey: Uint8Array;
  iv: Uint8Array;
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: Uint8Array;
}

export interface TokenStore {
  get(userId: string, options?: { consistent?: boolean }): Promise<StoredUser | undefined>;
  /** Creates the item; fails with ConflictError if it exists. */
  create(user: StoredUser): Promise<void>;
  /**
   * Applies `update` if `condition` still holds, adding one to the version; returns the new item.
   * Fails with ConflictError otherwise (someone else wrote first) or NotFoundError.
   */
  update(userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser>;
  delete(userId: string): Promise<void>;
  /** Users whose refresh is due at or before `dueBefore` (ms), from the sparse due index. */
  listDue(dueBefore: number): AsyncIterable<DueUser>;
}

export interface DueUser {
  userId: string;
  dueAt: number;
}

/** HMAC keys for callback URLs, by key id. */
export interface SigningKeyring {
  /** The key id new URLs are signed with. */
  activeKeyId: string;
  /** The key for `keyId`, or undefined when unknown or retired. */
  key(keyId: string): Uint8Array | undefined;
}

export interface SigningKeyProvider {
  keyring(): Promise<SigningKeyring>;
}

/** A Zoom OAuth credential as Recall reports it. */
export interface RecallCredential {
  id: string;
  status?: string;
  /** The Zoom user id Recall resolved from the token (user-level apps). */
  zoomUserId?: string;
  /** The Zoom account id (account-level apps). */
  zoomAccountId?: string;
  callbackUrl?: string;
}

/** Recall.ai's Zoom OAuth credential API. Failures after retries throw UpstreamError. */
export interface RecallClient {
  /** Throws RecallConflictError when the Zoom user already has a credential for the app. */
  createZoomOAuthCredential(input: {
    oauthAppId: string;
    callbackUrl: string;
    idempotencyKey: string;
  }): Promise<RecallCredential>;
  /** All pages. `zoomUserId` filters on Recall's side (user-level apps only). */
  listZoomOAuthCredentials(filter: { oauthAppId: string; zoomUserId?: string }): Promise<RecallCredential[]>;
  /** The credential, or undefined when Recall does not have it (404). */
  getZoomOAuthCredential(id: string): Promise<RecallCredential | undefined>;
  /** A credential that is already gone (404) counts as deleted. */
  deleteZoomOAuthCredential(id: string): Promise<void>;
}

export type ZoomRefreshResult =
  | { kind: 'ok'; tokens: TokenPair; expiresInSeconds: number }
  /** invalid_grant, revoked, owner gone: only the user can fix it by re-authorizing. */
  | { kind: 'grant_dead'; error: string; reason?: string }
  /** 429, 5xx, network error, timeout: try again later. */
  | { kind: 'retryable'; status?: number; error: string }
  /** invalid_client and the like: an operator must fix the configuration. */
  | { kind: 'misconfigured'; status: number; error: string; reason?: string };

/** Zoom's OAuth token endpoint. Never throws for an HTTP or network failure: it returns a result. */
export interface ZoomTokenClient {
  refresh(refreshToken: string, options?: { timeoutMs?: number }): Promise<ZoomRefreshResult>;
}
