/**
 * One set of in-memory ports wired the way the handlers wire the real ones, for domain tests:
 * a manual clock (and a `sleep` that moves it), the store with a pause hook installed, the
 * cipher, Zoom, Recall and a log. `refreshDeps(actor)` gives each worker its own named view of
 * the store, so a test can pause "worker A before its write" by name.
 */
import { randomUUID } from 'node:crypto';
import type { SigningKeyring } from '../../../functions/domain/ports';
import type { RefreshDeps } from '../../../functions/domain/refresh';
import type { RegistrationDeps } from '../../../functions/domain/registration';
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

  registrationDeps(actor = 'admin'): RegistrationDeps {
    return {
      store: this.store.withActor(actor),
      cipher: this.cipher,
      recall: this.recall,
      signingKeys: { keyring: async () => keyring },
      clock: this.clock.clock,
      publicBaseUrl: PUBLIC_BASE_URL,
      oauthAppId: OAUTH_APP_ID,
    };
  }

  /** A user with a fresh Zoom grant whose access token expires in `expiresInSeconds`, stored directly. */
  async seedUser(userId: string, expiresInSeconds: number): Promise<{ grant: Grant; user: StoredUser }> {
    const grant = this.zoom.authorize(this.recall.zoomUserOf(userId), expiresInSeconds);
    const now = this.clock.now();
    const user: StoredUser = {
      userId,
      registrationId: randomUUID(),
      version: 1,
      status: 'active',
      sealed: await this.inspector.seal(userId, grant.tokens),
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
    return { user, tokens: await this.inspector.open(userId, user.sealed) };
  }
}
