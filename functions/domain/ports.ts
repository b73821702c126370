/**
 * The seams between the domain and the outside world. The domain only ever sees these
 * interfaces; adapters (DynamoDB, KMS, Recall, Zoom) and test doubles implement them.
 */
import type { BotTokenKind } from '../contract';
import type { LifecycleEvent } from './events';
import type { SealedTokens, SealOwner, StoredUser, TokenPair, UserUpdate, WriteCondition } from './token-record';

export type { SealedTokens } from './token-record';

type LogFunction = (message: string, ...attributes: Record<string, unknown>[]) => void;

/** The slice of a structured logger (Powertools Logger) the domain uses. */
export interface Log {
  info: LogFunction;
  warn: LogFunction;
  error: LogFunction;
}

/** Milliseconds since the epoch. Injected so tests can move time. */
export type Clock = () => number;

/** Opens sealed token pairs: all the callback and the bot-token routes need of the cipher. */
export interface TokenOpener {
  open(owner: SealOwner, sealed: SealedTokens): Promise<TokenPair>;
}

/**
 * Seals token pairs for one record: envelope encryption with the owner (user, registration,
 * token generation) bound as AAD, so a pair opens only where it was sealed for.
 */
export interface TokenCipher extends TokenOpener {
  /**
   * A data key reserved for sealing, obtained before a refresh spends its refresh token: the
   * answer can then be sealed with no KMS call, however long Zoom takes and whatever the key's
   * age or use count by then.
   */
  prepare(): Promise<Sealer>;
  seal(owner: SealOwner, tokens: TokenPair): Promise<SealedTokens>;
}

/** Seals with a data key already in hand: never calls KMS, never fails for KMS's sake. */
export interface Sealer {
  seal(owner: SealOwner, tokens: TokenPair): SealedTokens;
}

/** Reads one user's record: all the callback and the bot-token routes do with the store. */
export interface TokenReader {
  get(userId: string, options?: { consistent?: boolean }): Promise<StoredUser | undefined>;
}

/**
 * The token table. Every write is conditional, and safe to send twice: the AWS SDK sends a write
 * again when its answer is lost, and a re-sent write that meets its own earlier landing (the item
 * carries its write's marker) answers as if the first answer had arrived, never ConflictError.
 */
export interface TokenStore extends TokenReader {
  /** Creates the item; fails with ConflictError if it exists. */
  create(user: StoredUser): Promise<void>;
  /**
   * Applies `update` if `condition` still holds (the item existing included), adding one to the
   * version; returns the new item. Fails with ConflictError otherwise (someone else wrote first).
   */
  update(userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser>;
  /**
   * Deletes the item if `condition` holds, else ConflictError. A missing item is no error (with a
   * condition or without): a delete sent twice, or after another, is one delete.
   */
  delete(userId: string, condition?: WriteCondition): Promise<void>;
  /**
   * Users whose `field` equals `value`, in user-id order after `after`, at most `limit` of them
   * (an index query, never a scan). `last` is the last user id read when more may follow.
   */
  listWhere(
    field: 'status' | 'recallStatus',
    value: string,
    page: { limit: number; after?: string },
  ): Promise<{ users: StoredUser[]; last?: string }>;
  /** Users whose refresh is due at or before `dueBefore` (ms), from the sparse due index, most overdue first. */
  listDue(dueBefore: number): AsyncIterable<DueUser>;
  /** Every user whose record names this Zoom user id (from the sparse zoom-user index; never a scan), in user-id order. */
  findByZoomUser(zoomUserId: string): Promise<StoredUser[]>;
}

/**
 * Hands lifecycle events to the app backend (EventBridge in AWS; a webhook, or nothing, locally).
 * The instance the domain gets never throws: failures are retried, counted and logged by a
 * wrapper (adapters/event-publishers.ts), so a state change never fails for its event.
 */
export interface EventPublisher {
  publish(events: LifecycleEvent[]): Promise<void>;
}

export interface DueUser {
  userId: string;
  dueAt: number;
}

/** A user handed to the refresh workers. */
export interface RefreshRequest {
  userId: string;
  /**
   * Why: the dispatcher's due list, a served token close to expiry, or a token Zoom's API
   * rejected before its expiry (the bot-token path: the user is in use, and needs a new token).
   */
  reason: 'due' | 'serve' | 'rejected';
  /**
   * `rejected`: the rejected token's expiry (ms). The user is refreshed unless a token expiring
   * later is stored by then: conditioned on the token itself, so a burst of rejections of one
   * token costs one refresh.
   */
  rejectedExpiresAt?: number;
}

/**
 * Hands users to the refresh workers: SQS and a Lambda event source mapping in AWS, an
 * in-process queue locally. At least once: a user may be handed out twice (the lease makes the
 * second a no-op).
 */
export interface RefreshQueue {
  enqueue(requests: RefreshRequest[], options?: { delaySeconds?: number }): Promise<void>;
}

/** HMAC keys for callback URLs, by key id. */
export interface SigningKeyring {
  /** The key id new URLs are signed with. */
  activeKeyId: string;
  /** The key for `keyId`, or undefined when unknown or retired. */
  key(keyId: string): Uint8Array | undefined;
}

export interface SigningKeyProvider {
  /**
   * The keyring, cached. `fresh`: read it again now (rate-limited by the provider), for a URL
   * naming a key id the cached keyring does not know: a rotation may have just added it.
   */
  keyring(options?: { fresh?: boolean }): Promise<SigningKeyring>;
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
  /**
   * Throws RecallConflictError when the Zoom user already has a credential for the app. `redact`:
   * values Recall may echo in its answer that no error may carry (the tokens the callback hands
   * Recall while it creates the credential).
   */
  createZoomOAuthCredential(input: {
    oauthAppId: string;
    callbackUrl: string;
    idempotencyKey: string;
    redact?: string[];
  }): Promise<RecallCredential>;
  /**
   * All pages. `zoomUserId` (user-level apps only) and `status` filter on Recall's side.
   * `pageIntervalMs`: pages requested at least this far apart (Recall allows 60 list requests a minute).
   */
  listZoomOAuthCredentials(
    filter: { oauthAppId: string; zoomUserId?: string; status?: 'healthy' | 'unhealthy' },
    options?: { pageIntervalMs?: number },
  ): Promise<RecallCredential[]>;
  /** The credential, or undefined when Recall does not have it (404). */
  getZoomOAuthCredential(id: string): Promise<RecallCredential | undefined>;
  /** A credential that is already gone (404) counts as deleted. */
  deleteZoomOAuthCredential(id: string): Promise<void>;
}

/**
 * What a refresh at Zoom came to. The line that matters is whether the refresh token may have
 * been spent: `retryable` says it cannot have been (try again, even at once); `ambiguous` says
 * it may have been (the request went out and no usable answer came back), so trying again
 * with it may end the grant.
 */
export type ZoomRefreshResult =
  | {
      kind: 'ok';
      tokens: TokenPair;
      /** Zoom's expires_in, when it gave a usable one. */
      expiresInSeconds?: number;
      /** Else the access token's own `exp` (a JWT), ms since the epoch. */
      tokenExpiresAt?: number;
    }
  /** invalid_grant, revoked, owner gone: only the user can fix it by re-authorizing. */
  | { kind: 'grant_dead'; error: string; reason?: string }
  /** Never sent, or refused before Zoom acted on it (429, 5xx): the refresh token is intact. */
  | { kind: 'retryable'; status?: number; error: string; retryAfterMs?: number }
  /** Sent, but no usable answer (timeout, connection lost, a 2xx without tokens): the token may be spent. */
  | { kind: 'ambiguous'; status?: number; error: string }
  /** invalid_client and the like: an operator must fix the configuration. */
  | { kind: 'misconfigured'; status: number; error: string; reason?: string };

/** Zoom's OAuth token endpoint. Never throws for an HTTP or network failure: it returns a result. */
export interface ZoomTokenClient {
  /**
   * Resolves once a refresh can be sent at once (the client secret read, within a bound);
   * rejects when it cannot. Called before the lease is taken: a slow read then delays nothing
   * already running and never eats into the time kept for Zoom's answer and its save.
   */
  ready(): Promise<void>;
  /** `timeoutMs`: how long to wait for the answer once sent (the caller's remaining time, less its save). */
  refresh(refreshToken: string, options?: { timeoutMs?: number }): Promise<ZoomRefreshResult>;
}

/**
 * What Zoom's REST API answered a bot-token request, classified (domain/bot-tokens.ts):
 * `token`: minted; `unavailable`: Zoom will not mint it (a missing scope, an unknown meeting,
 * another refusal), asking again changes nothing; `retry`: transient (throttled, Zoom failing,
 * no answer) or the access token was rejected (`access_token_rejected`: a fresh one may work).
 * Never carries the bearer token, and never Zoom's raw words.
 */
export type ZoomMintResult =
  | { kind: 'token'; token: string }
  | { kind: 'unavailable'; reason: 'scope_missing' | 'meeting_not_found' | 'zoom_refused'; status: number; code?: number }
  | {
      kind: 'retry';
      cause: 'access_token_rejected' | 'throttled' | 'zoom_error' | 'timeout' | 'network' | 'invalid_answer';
      status?: number;
      code?: number;
      retryAfterMs?: number;
    };

/**
 * Zoom's REST API for bot tokens. Never throws for an HTTP or network failure: it returns a
 * result. Retries transient failures itself while `deadline` (ms since the epoch) allows; never
 * an access token Zoom rejected (the caller gets a fresh one first).
 */
export interface ZoomApiClient {
  mintBotToken(kind: BotTokenKind, meetingId: string, accessToken: string, options: { deadline: number }): Promise<ZoomMintResult>;
}
