/**
 * Zoom's token endpoint in memory, for the domain's ZoomTokenClient port. Refresh tokens are
 * single-use like Zoom's: a refresh spends the token the moment Zoom processes it and returns a
 * new pair; a spent, unknown or revoked token answers `grant_dead` / invalid_grant.
 *
 * Each call can be scripted (`next(step, { zoomUserId? })`, taken in call order; unscripted calls behave
 * normally):
 * - `{ hold: 'before' }`: the request waits before Zoom processes it (nothing spent yet);
 * - `{ hold: 'after' }`: Zoom processes (spends) at once, the answer waits;
 *   both expose `reached` (with the refresh token) and `release()` on the returned handle;
 * - `{ lose: true }`: Zoom spends the token but the answer is lost: `ambiguous` / timeout;
 * - `{ fail: 429 | 500 | 503 }`: retryable, nothing spent (a gateway's 502/504 is ambiguous: the real client's table);
 * - `{ malformed: true }`: Zoom spends the token but the 200 answer lacks fields
 *   (the real client's `ambiguous` / invalid_response);
 * - `{ hold: 'after', honourTimeout: true }`: like `hold: 'after'`, but when released later (on the
 *   clock given to ScriptedZoom) than the `timeoutMs` the caller passed, the answer is `ambiguous`
 *   / timeout, as the real client would have given up by then (the token is spent either way);
 * - `{ answer }`: Zoom spends the token and answers `answer(tokens)` (say, ok without expires_in).
 *
 * Every call records the `timeoutMs` it was given.
 * - `{ misconfigured: true }`: invalid_client, nothing spent.
 */
import type { Clock, ZoomRefreshResult, ZoomTokenClient } from '../../../functions/domain/ports';
import type { TokenPair } from '../../../functions/domain/token-record';
import { deferred, type Deferred } from './deferred';

export type ZoomStep =
  | { hold: 'before' | 'after'; honourTimeout?: boolean }
  | { answer: (tokens: TokenPair) => ZoomRefreshResult }
  | { lose: true }
  | { fail: 429 | 500 | 503 }
  | { malformed: true }
  | { misconfigured: true };

export interface ZoomStepHandle {
  /** Resolves with the refresh token once the call has reached this step. */
  reached: Deferred<string>;
  /** Lets a held call go on. */
  release(): void;
}

export interface ZoomCall {
  refreshToken: string;
  /** The wait the caller allowed (ms), as passed to `refresh`. */
  timeoutMs?: number;
  zoomUserId?: string;
  result?: ZoomRefreshResult;
}

export interface Grant {
  zoomUserId: string;
  tokens: TokenPair;
  expiresInSeconds: number;
  /** When the access token expires on the clock given to ScriptedZoom. */
  accessTokenExpiresAt: number;
}

interface ScriptEntry {
  step: ZoomStep;
  /** Only a call for this Zoom user takes the step. */
  zoomUserId?: string;
  reached: Deferred<string>;
  released: Deferred;
}

interface GrantState {
  currentRefreshToken: string;
  revoked: boolean;
  /** The scopes the user granted; every token of the grant carries them. */
  scope: string;
}

/** The scope of a grant unless a test names another. */
export const DEFAULT_SCOPE = 'user:read:user';

export class ScriptedZoom implements ZoomTokenClient {
  private readonly grants = new Map<string, GrantState>();
  private readonly accessTokens = new Map<string, { zoomUserId: string; expiresAt: number; scope: string }>();
  private readonly script: ScriptEntry[] = [];
  private minted = 0;
  readonly calls: ZoomCall[] = [];
  readonly stats = { refreshCalls: 0, refreshOk: 0, invalidGrant: 0 };
  /** Calls of `ready()` (the client secret read, before a lease). */
  readyCalls = 0;
  /** Awaited by `ready()`: move the clock to make the secret read slow, throw to make it fail. */
  readyGate?: () => Promise<void>;

  constructor(
    private readonly clock: Clock,
    private readonly accessTokenTtlSeconds = 3600,
  ) {}

  /** A user completes Zoom's OAuth flow: a fresh grant (of `scope`), any earlier one for the user replaced. */
  authorize(zoomUserId: string, expiresInSeconds = this.accessTokenTtlSeconds, scope = DEFAULT_SCOPE): Grant {
    const tokens = this.mint(zoomUserId, expiresInSeconds, scope);
    this.grants.set(zoomUserId, { currentRefreshToken: tokens.refreshToken, revoked: false, scope });
    return { zoomUserId, tokens, expiresInSeconds, accessTokenExpiresAt: this.clock() + expiresInSeconds * 1000 };
  }

  /** The user removes the app: every later refresh is invalid_grant. */
  revoke(zoomUserId: string): void {
    const grant = this.grants.get(zoomUserId);
    if (grant) grant.revoked = true;
  }

  currentRefreshToken(zoomUserId: string): string | undefined {
    return this.grants.get(zoomUserId)?.currentRefreshToken;
  }

  verifyAccessToken(accessToken: string): { zoomUserId: string; expiresAt: number; scope: string } | undefined {
    const known = this.accessTokens.get(accessToken);
    return known && known.expiresAt > this.clock() ? { ...known } : undefined;
  }

  /** Zoom stops accepting the user's current access tokens before their expiry (as it may, e.g. after a password change). */
  invalidateAccessTokens(zoomUserId: string): void {
    for (const [token, info] of this.accessTokens) if (info.zoomUserId === zoomUserId) this.accessTokens.delete(token);
  }

  /**
   * Scripts the next call (of `zoomUserId` only, when given) not taken by an earlier step;
   * returns a handle for holds.
   */
  next(step: ZoomStep, only: { zoomUserId?: string } = {}): ZoomStepHandle {
    const entry: ScriptEntry = { step, zoomUserId: only.zoomUserId, reached: deferred<string>(), released: deferred() };
    this.script.push(entry);
    return { reached: entry.reached, release: () => entry.released.resolve() };
  }

  async ready(): Promise<void> {
    this.readyCalls += 1;
    await this.readyGate?.();
  }

  async refresh(refreshToken: string, options?: { timeoutMs?: number }): Promise<ZoomRefreshResult> {
    this.stats.refreshCalls += 1;
    const call: ZoomCall = { refreshToken, timeoutMs: options?.timeoutMs, zoomUserId: this.ownerOf(refreshToken) };
    this.calls.push(call);
    const index = this.script.findIndex((entry) => entry.zoomUserId === undefined || entry.zoomUserId === call.zoomUserId);
    const scripted = index < 0 ? undefined : this.script.splice(index, 1)[0];
    const result = await this.answer(refreshToken, scripted, options?.timeoutMs);
    call.result = result;
    return result;
  }

  private async answer(refreshToken: string, scripted: ScriptEntry | undefined, timeoutMs: number | undefined): Promise<ZoomRefreshResult> {
    const step = scripted?.step;
    const sentAt = this.clock();
    const held = scripted?.released.promise;
    scripted?.reached.resolve(refreshToken);
    if (step && 'fail' in step) return { kind: 'retryable', status: step.fail, error: `http_${step.fail}` };
    if (step && 'misconfigured' in step) return { kind: 'misconfigured', status: 401, error: 'invalid_client' };
    if (step && 'hold' in step && step.hold === 'before') await held;
    const result = this.process(refreshToken);
    if (step && 'hold' in step && step.hold === 'after') {
      await held;
      if (step.honourTimeout && timeoutMs !== undefined && this.clock() - sentAt > timeoutMs)
        return { kind: 'ambiguous', error: 'timeout' };
    }
    // Spent at Zoom either way; only the answer differs.
    if (step && 'lose' in step) return { kind: 'ambiguous', error: 'timeout' };
    if (step && 'malformed' in step && result.kind === 'ok') return { kind: 'ambiguous', status: 200, error: 'invalid_response' };
    if (step && 'answer' in step && result.kind === 'ok') return step.answer(result.tokens);
    return result;
  }

  /** What Zoom does with a refresh request: rotate the pair, or invalid_grant. */
  private process(refreshToken: string): ZoomRefreshResult {
    const zoomUserId = this.ownerOf(refreshToken);
    const grant = zoomUserId ? this.grants.get(zoomUserId) : undefined;
    if (!zoomUserId || !grant || grant.revoked || grant.currentRefreshToken !== refreshToken) {
      this.stats.invalidGrant += 1;
      return { kind: 'grant_dead', error: 'invalid_grant', reason: 'Invalid Token!' };
    }
    const tokens = this.mint(zoomUserId, this.accessTokenTtlSeconds, grant.scope);
    grant.currentRefreshToken = tokens.refreshToken;
    this.stats.refreshOk += 1;
    return { kind: 'ok', tokens, expiresInSeconds: this.accessTokenTtlSeconds };
  }

  private mint(zoomUserId: string, expiresInSeconds: number, scope: string): TokenPair {
    this.minted += 1;
    const accessToken = `access:${zoomUserId}:${this.minted}`;
    this.accessTokens.set(accessToken, { zoomUserId, expiresAt: this.clock() + expiresInSeconds * 1000, scope });
    return { accessToken, refreshToken: `refresh:${zoomUserId}:${this.minted}`, scope };
  }

  /** Tokens name their Zoom user, so a spent one is still traced to its grant. */
  private ownerOf(refreshToken: string): string | undefined {
    const match = /^refresh:(.+):\d+$/.exec(refreshToken);
    return match?.[1];
  }
}
