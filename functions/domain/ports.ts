/**
 * The seams between the domain and the outside world. The domain only ever sees these
 * interfaces; adapters (DynamoDB, KMS, Recall, Zoom) and test doubles implement them.
 */
import type { StoredUser, TokenPair, UserUpdate, WriteCondition } from './token-record';

/** Milliseconds since the epoch. Injected so tests can move time. */
export type Clock = () => number;

/** Seals token pairs for one user: envelope encryption with the user id bound as AAD. */
export interface TokenCipher {
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
