/**
 * Handing out a user's access token (to Recall's callback, or to the app backend). Never waits
 * on Zoom while it holds a token Recall accepts:
 * - at least the serve margin left: served;
 * - less, but at least the serve floor (Recall's 120 s plus a margin): served at once, and a
 *   refresh is handed to the refresh workers without waiting for it;
 * - less than the floor: a refresh is handed to the workers and the answer waits for its result
 *   until the answer deadline, no longer. The worker, not this request, waits on Zoom and saves
 *   the answer, so a late Zoom answer is still stored after this request has given up.
 */
import { NotFoundError, TokenUnavailableError } from './errors';
import type { Clock, Log, RefreshQueue, TokenOpener, TokenReader } from './ports';
import { defaultSleep } from './refresh';
import { PROACTIVE, type RefreshPolicy, shouldRecordServe } from './refresh-policy';
import { TIMING } from './timing';
import { sealedTokensOf, type StoredUser } from './token-record';

export interface ServedToken {
  accessToken: string;
  expiresAt: number;
  /** The scopes Zoom's token response named, as it named them (absent: it named none). */
  scope?: string;
  /** Which stored pair this is (StoredUser.tokenGeneration): a refresh or registration stores the next. */
  generation: number;
}

export interface ServeDeps {
  store: TokenReader;
  cipher: TokenOpener;
  refreshQueue: RefreshQueue;
  clock: Clock;
  logger: Log;
  sleep?: (ms: number) => Promise<void>;
  /** Under the adaptive policy a served token marks its user in use (through the workers: this path never writes). */
  policy?: RefreshPolicy;
  /** Told how each request was served, for metrics. */
  observe?: (served: 'stored' | 'stored_refresh_requested' | 'waited_for_refresh') => void;
}

export interface ServeOptions {
  /** When the answer must be ready (ms since the epoch): Recall gives the callback 5 s. */
  deadline: number;
  /** How often a waiting request re-reads the item. */
  pollIntervalMs?: number;
  /** The registration a callback URL was issued to: another one (the user deleted, then registered again) is no user for it. */
  registrationId?: string;
  /** The least life a token handed out without waiting has. Default TIMING.serveFloorMs (Recall's 120 s and a margin). */
  floorMs?: number;
  /** A token Zoom rejected although it had not expired: only another pair is handed out, and the workers are asked for one. */
  replacing?: Pick<ServedToken, 'expiresAt' | 'generation'>;
}

export async function serveAccessToken(userId: string, deps: ServeDeps, options: ServeOptions): Promise<ServedToken> {
  // Consistent: Recall validates a credential right after registration wrote the user, and an
  // eventually consistent read could miss it (or serve a pair a refresh just replaced).
  const user = await readUser(userId, deps, options);
  const lifeMs = user.accessTokenExpiresAt - deps.clock();
  const newer = replaces(user, options);
  if (newer && lifeMs >= TIMING.serveMarginMs) {
    if (shouldRecordServe(deps.policy ?? PROACTIVE, user.lastServedAt, deps.clock())) await requestRefresh(userId, deps);
    deps.observe?.('stored');
    return open(user, deps);
  }
  await requestRefresh(userId, deps, newer ? undefined : options.replacing?.expiresAt);
  if (newer && lifeMs >= floorOf(options)) {
    deps.observe?.('stored_refresh_requested');
    return open(user, deps);
  }
  const refreshed = await waitForRefresh(userId, options, deps);
  deps.observe?.('waited_for_refresh');
  return open(refreshed, deps);
}

const floorOf = (options: ServeOptions) => options.floorMs ?? TIMING.serveFloorMs;

/** Whether the stored pair is another than the one whose token Zoom rejected (any pair, when none was). */
function replaces(user: StoredUser, options: ServeOptions): boolean {
  return options.replacing === undefined || user.tokenGeneration !== options.replacing.generation;
}

/** The user the request is for, with a live grant: NotFoundError for another registration, TokenUnavailableError for a dead grant. */
async function readUser(userId: string, deps: ServeDeps, options: ServeOptions): Promise<StoredUser> {
  const user = await deps.store.get(userId, { consistent: true });
  if (!user || (options.registrationId !== undefined && user.registrationId !== options.registrationId))
    throw new NotFoundError('unknown user');
  requireLiveGrant(user);
  return user;
}

/** A dead grant answers at once, whatever its token's expiry. */
export function requireLiveGrant(user: Pick<StoredUser, 'status'>): void {
  if (user.status === 'reauth_required') throw new TokenUnavailableError('reauth_required', 'user must re-authorize with Zoom');
  if (user.status === 'deauthorized') throw new TokenUnavailableError('deauthorized', 'the user deauthorized the app at Zoom');
}

/**
 * Asking for a refresh never fails the answer: at worst the next dispatch picks the user up.
 * `rejectedExpiresAt`: Zoom rejected the token expiring then; the workers refresh unless a later one is stored.
 */
async function requestRefresh(userId: string, deps: ServeDeps, rejectedExpiresAt?: number): Promise<void> {
  try {
    await deps.refreshQueue.enqueue([
      rejectedExpiresAt === undefined ? { userId, reason: 'serve' } : { userId, reason: 'rejected', rejectedExpiresAt },
    ]);
  } catch (error) {
    deps.logger.warn('could not request a refresh', { userId, errorName: error instanceof Error ? error.name : typeof error });
  }
}

/** Re-reads the item until a refreshed token is stored or the answer deadline comes. */
async function waitForRefresh(userId: string, options: ServeOptions, deps: ServeDeps): Promise<StoredUser> {
  const sleep = deps.sleep ?? defaultSleep;
  const interval = options.pollIntervalMs ?? 100;
  while (deps.clock() + interval < options.deadline) {
    await sleep(interval);
    const current = await readUser(userId, deps, options);
    if (replaces(current, options) && current.accessTokenExpiresAt - deps.clock() >= floorOf(options)) return current;
  }
  throw new TokenUnavailableError('refresh_in_progress', 'no access token with enough validity left');
}

async function open(user: StoredUser, deps: ServeDeps): Promise<ServedToken> {
  const tokens = await deps.cipher.open(user, sealedTokensOf(user));
  return {
    accessToken: tokens.accessToken,
    expiresAt: user.accessTokenExpiresAt,
    generation: user.tokenGeneration,
    ...(tokens.scope ? { scope: tokens.scope } : {}),
  };
}
