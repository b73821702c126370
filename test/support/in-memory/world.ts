/**
 * One set of in-memory ports wired the way the handlers wire the real ones, for domain tests:
 * a manual clock (and a `sleep` that moves it), the store with a pause hook installed, the
 * cipher, Zoom, Recall and a log. `refreshDeps(actor)` gives each worker its own named view of
 * the store, so a test can pause "worker A before its write" by name. `queue` stands for SQS and
 * the refresh workers: every request it is handed runs refreshRequestedUser at once (as actor
 * `worker-<n>`), unless `queue.paused`, in which case requests are only recorded.
 */
import { randomUUID } from 'node:crypto';
import type { RefreshQueue, RefreshRequest, SigningKeyring } from '../../../functions/domain/ports';
import type { RefreshDeps, RefreshOutcome } from '../../../functions/domain/refresh';
import { refreshRequestedUser, type WorkOptions } from '../../../functions/domain/refresh-work';
import type { ServeDeps } from '../../../functions/domain/serve-token';
import type { RegistrationDeps } from '../../../functions/domain/registration';
import { sealedTokensOf } from '../../../functions/domain/token-record';
import type { StoredUser, TokenPair } from '../../../functions/domain/token-record';
import { InMemoryCipher } from './cipher';
import { ManualClock } from './clock';
import { Pauses } from './deferred';
import { MemoryLog } from './log';
import { ScriptedRecall } from './recall';
import { InMemoryTokenStore, type StoreEvent } from './token-store';
import { ScriptedZoom, type Grant } from './zoom';

export const OAUTH_APP_ID = '6f1c1b7e-5d3a-4b8e-9f00-000000000001';
export const PUBLIC_BASE_URL = 'https://vault.example.com';

const keyring: SigningKeyring = {
  activeKeyId: 'k1',
  key: (keyId) => (keyId === 'k1' ? Buffer.alloc(32, 1) : undefined),
};

/** The refresh queue and its workers, in process: each request is refreshed at once, unawaited. */
export class WorkerQueue implements RefreshQueue {
  readonly requests: RefreshRequest[] = [];
  /** Each finished worker's outcome, or the error it threw (a storage failure, say). */
  readonly outcomes: Array<RefreshOutcome | { kind: 'error'; error: unknown }> = [];
  /** Requests are recorded only, no worker runs. */
  paused = false;
  private readonly running: Promise<unknown>[] = [];

  constructor(
    private readonly world: World,
    private readonly options: { windowMs: number; deadlineMs: number; overrides?: Partial<RefreshDeps> } & Partial<WorkOptions>,
  ) {}

  async enqueue(requests: RefreshRequest[]): Promise<void> {
    for (const request of requests) {
      this.requests.push(request);
      if (this.paused) continue;
      const deps = this.world.refreshDeps(`worker-${this.requests.length}`, {
        deadline: this.world.clock.now() + this.options.deadlineMs,
        ...this.options.overrides,
      });
      // As the worker handler does: a rejected token is refreshed unless a later one is stored.
      const options = {
        ...this.options,
        ...(request.rejectedExpiresAt !== undefined ? { rejectedExpiresAt: request.rejectedExpiresAt } : {}),
      };
      this.running.push(
        refreshRequestedUser(request.userId, deps, options).then(
          (outcome) => this.outcomes.push(outcome),
          (error: unknown) => this.outcomes.push({ kind: 'error', error }),
        ),
      );
    }
  }

  /** The outcome kinds so far, sorted: for count assertions. */
  outcomeKinds(): string[] {
    return this.outcomes.map((outcome) => outcome.kind).sort();
  }

  /** Waits for every worker started so far. */
  async drain(): Promise<void> {
    while (this.running.length > 0) await Promise.all(this.running.splice(0));
  }
}

export class World {
  readonly clock = new ManualClock();
  readonly store = new InMemoryTokenStore();
  readonly storePauses = new Pauses<StoreEvent>();
  readonly cipher = new InMemoryCipher();
  readonly zoom = new ScriptedZoom(this.clock.clock);
  readonly recall = new ScriptedRecall();
  readonly log = new MemoryLog();
  /** Opens stored records for assertions without touching `cipher`'s counts. */
  private readonly inspector = new InMemoryCipher();

  constructor() {
    this.store.gate = this.storePauses.hook;
  }

  refreshDeps(actor: string, overrides: Partial<RefreshDeps> = {}): RefreshDeps {
    return {
      store: this.store.withActor(actor),
      cipher: this.cipher,
      zoom: this.zoom,
      clock: this.clock.clock,
      logger: this.log,
      sleep: this.clock.sleep,
      ...overrides,
    };
  }

  /** The refresh queue the serve path hands requests to; workers run refreshRequestedUser. */
  readonly queue = new WorkerQueue(this, { windowMs: 900_000, deadlineMs: 60_000 });

  serveDeps(actor: string, overrides: Partial<ServeDeps> = {}): ServeDeps {
    return {
      store: this.store.withActor(actor),
      cipher: this.cipher,
      refreshQueue: this.queue,
      clock: this.clock.clock,
      logger: this.log,
      sleep: this.clock.sleep,
      ...overrides,
    };
  }

  registrationDeps(actor = 'admin'): RegistrationDeps {
    return {
      store: this.store.withActor(actor),
      cipher: this.cipher,
      recall: this.recall,
      signingKeys: { keyring: async () => keyring },
      clock: this.clock.clock,
      callbackUrl: `${PUBLIC_BASE_URL}/zoom/token`,
      oauthAppId: OAUTH_APP_ID,
    };
  }

  /** A user with a fresh Zoom grant (of `scope`) whose access token expires in `expiresInSeconds`, stored directly. */
  async seedUser(userId: string, expiresInSeconds: number, scope?: string): Promise<{ grant: Grant; user: StoredUser }> {
    const grant = this.zoom.authorize(this.recall.zoomUserOf(userId), expiresInSeconds, scope);
    const now = this.clock.now();
    const owner = { userId, registrationId: randomUUID(), tokenGeneration: 1 };
    const user: StoredUser = {
      ...owner,
      version: 1,
      status: 'active',
      sealed: await this.inspector.seal(owner, grant.tokens),
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
      tokenGeneration: 1,
      registeredGeneration: 1,
      createdAt: now,
      updatedAt: now,
      recall: { status: 'registered', credentialId: `cred-${userId}`, callbackKeyId: 'k1' },
    };
    await this.store.create(user);
    this.store.writes.length = 0;
    return { grant, user };
  }

  /** The stored record and its tokens, read without gate or counting. */
  async stored(userId: string): Promise<{ user: StoredUser; tokens: TokenPair }> {
    const user = this.store.peek(userId);
    if (!user) throw new Error(`no stored user ${userId}`);
    return { user, tokens: await this.inspector.open(user, sealedTokensOf(user)) };
  }
}
