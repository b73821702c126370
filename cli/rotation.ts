/**
 * Rotating the callback-signing key (docs/operations.md, "Rotating the signing key") as a resumable state
 * machine. Every step is recorded in a state file before the next begins, and every step can be
 * repeated, so an interrupted run (Ctrl-C, a crash, a lost laptop lid) is simply run again:
 *
 *   planned        the old and new key ids are chosen (no key material is ever written here)
 *   key_added      the new key is in the keyring, not yet active; wait until every function
 *                  knows it, so a URL signed with it is never refused
 *   key_activated  the new key signs new URLs; wait until every function signs with it, so no
 *                  new URL with the old key appears after the re-sync
 *   syncing        every user whose credential at Recall may call an old-key URL re-synced with
 *                  Recall (token-free), with bounded concurrency; the ids done are recorded, so a
 *                  resumed run skips them
 *   users_synced   the old key is removed: URLs signed with it stop working
 *
 * Users it cannot re-sync never block it unannounced. A user with no credential at Recall has
 * nothing to move. A user whose grant is dead (reauth_required, deauthorized) is not re-synced:
 * Recall validates a new credential by fetching a token, which such a user cannot give; a
 * credential it still holds serves no token with either key, and is reported. A user Recall
 * refuses is re-read: when no credential is left at Recall nothing uses the old key; when one
 * is, that credential still calls an old-key URL, so the old key is kept and the run stops with
 * the next step (`--skip-failed` removes it anyway, naming the users whose credentials stop).
 *
 * The keyring (a local file, or the Secrets Manager secret in AWS) and the state store are
 * behind small interfaces (./key-stores.ts).
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError, VaultError } from 'zoom-token-vault-client';
import { forEachLimited } from './pool';
import { Progress, type ProgressSink } from './progress';

/** `{"active": "k1", "k1": "<secret>", …}` */
export type Keyring = Record<string, string>;

export interface KeyStore {
  /** Where the keys live, for messages (never the keys). */
  readonly description: string;
  /** Time until every function uses a changed keyring (local: the file is re-read every second; AWS: the 5-minute secret cache). */
  readonly propagationMs: number;
  read(): Promise<Keyring>;
  write(keyring: Keyring): Promise<void>;
}

export type RotationPhase = 'planned' | 'key_added' | 'key_activated' | 'syncing' | 'users_synced';

export interface RotationState {
  version: 1;
  startedAt: string;
  oldKid: string;
  newKid: string;
  phase: RotationPhase;
  /** ms since the epoch */
  keyAddedAt?: number;
  activatedAt?: number;
  /** Users re-synced with the new key (or found gone). */
  synced: string[];
  /**
   * Users not re-synced because their grant is dead: a new PUT after re-authorization signs with
   * the active key. `credentialId`: the credential Recall may still hold, calling an old-key URL
   * (it serves no token with either key: the grant is dead).
   */
  skipped: Array<{ userId: string; status: string; credentialId?: string }>;
  /** Users with no credential at Recall: nothing of theirs calls an old-key URL; their next PUT or re-sync signs with the new key. */
  withoutCredential: Array<{ userId: string; status: string }>;
  /** The last run's failures (Recall refused the re-sync), retried by the next run. */
  failed: RotationFailure[];
}

export interface RotationFailure {
  userId: string;
  /** The admin API's answer to the re-sync. */
  status: number;
  code: string;
  /**
   * Recall may still hold a credential of this user that calls an old-key URL (its id when
   * known): the old key is kept, unless --skip-failed. False: no credential is left at Recall.
   */
  holdsCredential: boolean;
  credentialId?: string;
}

export interface StateStore {
  readonly description: string;
  /**
   * Takes the store's lock for one rotation (RotationError when another run holds it); returns
   * its release. Absent: no locking (a store only one process can reach).
   */
  lock?(): Promise<() => Promise<void>>;
  load(): Promise<RotationState | undefined>;
  save(state: RotationState): Promise<void>;
  /** After a completed rotation. */
  clear(): Promise<void>;
}

/** A user as the admin API shows it (the fields the rotation reads). */
export interface RotationUser {
  user_id: string;
  status: string;
  /** The credential Recall holds for the user (null: none). Unknown (absent): re-synced to be safe. */
  recall_credential_id?: string | null;
}

export interface RotationDeps {
  keys: KeyStore;
  state: StateStore;
  /** Every registered user (all statuses). */
  users: () => AsyncIterable<RotationUser>;
  resync: (userId: string) => Promise<unknown>;
  /** The user as it now is (undefined: gone): read after a failed re-sync. */
  status: (userId: string) => Promise<RotationUser | undefined>;
  /** Remove the old key even when users Recall refused still hold a credential calling it. */
  skipFailed?: boolean;
  /** Default 8. */
  concurrency?: number;
  /** Overrides keys.propagationMs. */
  propagationMs?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  progress?: ProgressSink;
  newKeyMaterial?: () => string;
  /** Test seams: called after each recorded step. */
  hooks?: {
    afterPhase?: (phase: RotationPhase | 'done') => void | Promise<void>;
    afterUserSynced?: (userId: string, syncedCount: number) => void | Promise<void>;
  };
}

export interface RotationResult {
  /** done: the old key is removed; incomplete: kept, because of `failed` users still holding a credential that calls it. */
  outcome: 'done' | 'incomplete';
  oldKid: string;
  newKid: string;
  synced: number;
  skipped: RotationState['skipped'];
  withoutCredential: RotationState['withoutCredential'];
  failed: RotationState['failed'];
}

export class RotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RotationError';
  }
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Checks the keyring's shape; messages name key ids, never material. */
export function checkKeyring(keyring: unknown, where: string): Keyring {
  if (!keyring || typeof keyring !== 'object' || Array.isArray(keyring)) throw new RotationError(`${where}: not a JSON object`);
  const record = keyring as Record<string, unknown>;
  for (const [kid, value] of Object.entries(record)) {
    if (typeof value !== 'string') throw new RotationError(`${where}: "${kid}" is not a string`);
    if (kid !== 'active' && !KEY_ID.test(kid)) throw new RotationError(`${where}: key id "${kid}" is outside ${KEY_ID}`);
  }
  if (typeof record.active !== 'string' || record.active === 'active' || typeof record[record.active] !== 'string') {
    throw new RotationError(`${where}: "active" must name a key the keyring holds`);
  }
  return record as Keyring;
}

/** k1, k2 → k3; a keyring without numbered ids starts at k2. */
export function nextKeyId(keyring: Keyring): string {
  let highest = 1;
  for (const kid of Object.keys(keyring)) {
    const match = /^k(\d+)$/.exec(kid);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  let next = highest + 1;
  while (`k${next}` in keyring) next++;
  return `k${next}`;
}

/** One rotation at a time: the state store's lock is held for the whole run. */
export async function rotateSigningKey(deps: RotationDeps): Promise<RotationResult> {
  const release = deps.state.lock ? await deps.state.lock() : undefined;
  try {
    return await new Rotation(deps).run();
  } finally {
    await release?.();
  }
}

/** One run of the state machine: each phase is a method, entered only from the phase before it (or a resumed state). */
class Rotation {
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: string) => void;
  private readonly propagationMs: number;
  /** Where the keys live, for messages. */
  private readonly where: string;
  /** Saves are queued so concurrent workers never interleave writes; each saves a snapshot. */
  private saving = Promise.resolve();

  constructor(private readonly deps: RotationDeps) {
    this.clock = deps.clock ?? Date.now;
    this.sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    this.log = deps.log ?? (() => undefined);
    this.propagationMs = deps.propagationMs ?? deps.keys.propagationMs;
    this.where = deps.keys.description;
  }

  async run(): Promise<RotationResult> {
    const state = await this.resumeOrPlan();
    const { newKid } = state;
    if (state.phase === 'planned') await this.addNewKey(state);
    if (state.phase === 'key_added') await this.activateNewKey(state);
    if (state.phase === 'key_activated') {
      await this.waitUntil((state.activatedAt ?? 0) + this.propagationMs, `until every function signs with ${newKid}`);
      await this.enter(state, 'syncing');
    }
    if (state.phase === 'syncing') {
      const incomplete = await this.resyncUsers(state);
      if (incomplete) return incomplete;
    }
    if (state.phase === 'users_synced') await this.removeOldKey(state);
    return this.result('done', state);
  }

  private result(outcome: RotationResult['outcome'], state: RotationState): RotationResult {
    const { oldKid, newKid, synced, skipped, withoutCredential, failed } = state;
    return { outcome, oldKid, newKid, synced: synced.length, skipped, withoutCredential, failed };
  }

  /** The saved state of an interrupted run, or a new plan (old key: the active one) saved as 'planned'. */
  private async resumeOrPlan(): Promise<RotationState> {
    const { deps } = this;
    const saved = await deps.state.load();
    if (saved) {
      saved.withoutCredential ??= []; // a state file from before this list
      this.log(
        `resuming the rotation ${saved.oldKid} → ${saved.newKid} (phase ${saved.phase}, ${saved.synced.length} users re-synced so far; state in ${deps.state.description})`,
      );
      return saved;
    }
    const keyring = checkKeyring(await deps.keys.read(), this.where);
    const state: RotationState = {
      version: 1,
      startedAt: new Date(this.clock()).toISOString(),
      oldKid: keyring.active,
      newKid: nextKeyId(keyring),
      phase: 'planned',
      synced: [],
      skipped: [],
      withoutCredential: [],
      failed: [],
    };
    this.log(`rotating the signing key ${state.oldKid} → ${state.newKid} (keys in ${this.where}; state in ${deps.state.description})`);
    await this.enter(state, 'planned');
    return state;
  }

  /** Phase 1: the new key in the keyring, not active. */
  private async addNewKey(state: RotationState): Promise<void> {
    const { deps } = this;
    const keyring = checkKeyring(await deps.keys.read(), this.where);
    if (!(state.newKid in keyring)) {
      // Written only here; a run that died after this write finds the key and keeps it.
      await deps.keys.write({ ...keyring, [state.newKid]: (deps.newKeyMaterial ?? (() => randomBytes(48).toString('base64url')))() });
    }
    state.keyAddedAt = this.clock();
    this.log(`phase 1/4: added ${state.newKid} (not active yet)`);
    await this.enter(state, 'key_added');
  }

  /** Phase 2: once every function knows the new key, it becomes the active one. */
  private async activateNewKey(state: RotationState): Promise<void> {
    const { deps } = this;
    const { newKid } = state;
    await this.waitUntil((state.keyAddedAt ?? 0) + this.propagationMs, `until every function knows ${newKid}`);
    const keyring = checkKeyring(await deps.keys.read(), this.where);
    if (!(newKid in keyring))
      throw new RotationError(
        `${this.where} no longer holds ${newKid}: the keyring was changed outside this rotation; delete ${deps.state.description} to start over`,
      );
    if (keyring.active !== newKid) await deps.keys.write({ ...keyring, active: newKid });
    state.activatedAt = this.clock();
    this.log(`phase 2/4: ${newKid} is active`);
    await this.enter(state, 'key_activated');
  }

  /**
   * Phase 3: every user whose credential may call an old-key URL re-synced. An incomplete result
   * (the old key kept) while a user Recall refused still holds such a credential, unless skipFailed.
   */
  private async resyncUsers(state: RotationState): Promise<RotationResult | undefined> {
    const { deps } = this;
    const { newKid } = state;
    const keyring = checkKeyring(await deps.keys.read(), this.where);
    if (keyring.active !== newKid)
      throw new RotationError(
        `${this.where}: the active key is ${keyring.active}, not ${newKid}: the keyring was changed outside this rotation`,
      );
    const doneBefore = new Set(state.synced).size;
    const todo = await this.usersToResync(state);
    this.log(
      `phase 3/4: re-syncing ${todo.length} users with Recall (${doneBefore} done before; ${state.withoutCredential.length} without a ` +
        `credential at Recall: nothing to move; ${state.skipped.length} whose grant is dead: not re-synced)`,
    );
    const progress = new Progress('re-sync', todo.length, deps.progress ?? { write: () => undefined });
    try {
      await forEachLimited(todo, deps.concurrency ?? 8, (userId) => this.resyncUser(state, userId, progress));
    } finally {
      progress.close();
      await this.saving.catch(() => undefined);
    }
    progress.finish(`${state.synced.length - doneBefore} re-synced, ${state.failed.length} failed`);
    return this.afterResync(state);
  }

  /** Whether the old key may go: no refused user still holds a credential calling it, or skipFailed says remove it anyway. */
  private async afterResync(state: RotationState): Promise<RotationResult | undefined> {
    const { oldKid } = state;
    const holding = state.failed.filter((failure) => failure.holdsCredential);
    if (holding.length > 0 && !this.deps.skipFailed) {
      await this.save(state);
      this.log(`${oldKid} is kept: ${holding.length} users' credentials at Recall still call URLs signed with it (failed, below)`);
      return this.result('incomplete', state);
    }
    if (holding.length > 0)
      this.log(`--skip-failed: removing ${oldKid} although ${holding.length} users' credentials at Recall still call it`);
    await this.enter(state, 'users_synced');
    return undefined;
  }

  /**
   * The users not re-synced yet. Those whose grant is dead go to state.skipped, those with no
   * credential at Recall to state.withoutCredential (this run's lists start empty, failed too).
   */
  private async usersToResync(state: RotationState): Promise<string[]> {
    const done = new Set(state.synced);
    const todo = new Set<string>();
    state.skipped = [];
    state.withoutCredential = [];
    state.failed = [];
    for await (const user of this.deps.users()) {
      if (done.has(user.user_id) || todo.has(user.user_id)) continue;
      const placed = placeUnsyncable(state, user);
      if (!placed) todo.add(user.user_id);
    }
    return [...todo];
  }

  private async resyncUser(state: RotationState, userId: string, progress: Progress): Promise<void> {
    try {
      await this.deps.resync(userId);
    } catch (error) {
      // Gone meanwhile (deleted): nothing left to move.
      if (!(error instanceof NotFoundError)) {
        if (!(error instanceof VaultError)) throw error;
        await this.recordFailure(state, userId, error);
        progress.tick();
        return;
      }
    }
    state.synced.push(userId);
    progress.tick();
    await this.save(state);
    await this.deps.hooks?.afterUserSynced?.(userId, state.synced.length);
  }

  /** A refused re-sync, placed by what the user now is: gone, dead, without a credential, or still holding one. */
  private async recordFailure(state: RotationState, userId: string, error: VaultError): Promise<void> {
    let now: RotationUser | undefined;
    try {
      now = await this.deps.status(userId);
    } catch {
      // Unknown: counted as still holding its credential (the old key is kept), retried by the next run.
      state.failed.push({ userId, status: error.status, code: error.code, holdsCredential: true });
      return;
    }
    if (!now) {
      state.synced.push(userId);
      return;
    }
    if (grantDead(now)) {
      state.skipped.push({ userId, status: now.status, ...credentialOf(now) });
      return;
    }
    state.failed.push({
      userId,
      status: error.status,
      code: error.code,
      holdsCredential: now.recall_credential_id !== null,
      ...credentialOf(now),
    });
  }

  /** Phase 4: the old key removed, and the state cleared: the rotation is done. */
  private async removeOldKey(state: RotationState): Promise<void> {
    const { deps } = this;
    const { oldKid, newKid } = state;
    const keyring = checkKeyring(await deps.keys.read(), this.where);
    if (keyring.active !== newKid)
      throw new RotationError(`${this.where}: the active key is ${keyring.active}, not ${newKid}: not removing ${oldKid}`);
    if (oldKid in keyring) {
      const { [oldKid]: _removed, ...rest } = keyring;
      await deps.keys.write(rest);
    }
    this.log(`phase 4/4: removed ${oldKid}; URLs signed with it stop working within ${Math.ceil(this.propagationMs / 1000)} s`);
    await this.saving;
    await deps.state.clear();
    await deps.hooks?.afterPhase?.('done');
  }

  private save(state: RotationState): Promise<void> {
    const snapshot = structuredClone(state);
    this.saving = this.saving.then(() => this.deps.state.save(snapshot));
    return this.saving;
  }

  private async waitUntil(at: number, why: string): Promise<void> {
    const remaining = at - this.clock();
    if (remaining > 0) {
      this.log(`waiting ${Math.ceil(remaining / 1000)} s ${why}`);
      await this.sleep(remaining);
    }
  }

  private async enter(state: RotationState, phase: RotationPhase): Promise<void> {
    state.phase = phase;
    await this.save(state);
    await this.deps.hooks?.afterPhase?.(phase);
  }
}

/** The id of the credential a user holds at Recall, when the listing names one. */
function credentialOf(user: RotationUser): { credentialId?: string } {
  return typeof user.recall_credential_id === 'string' ? { credentialId: user.recall_credential_id } : {};
}

/**
 * Places a user the rotation does not re-sync: a dead grant (skipped) or no credential at Recall
 * (withoutCredential). False for a user to re-sync.
 */
function placeUnsyncable(state: RotationState, user: RotationUser): boolean {
  if (grantDead(user)) {
    state.skipped.push({ userId: user.user_id, status: user.status, ...credentialOf(user) });
    return true;
  }
  if (user.recall_credential_id === null) {
    state.withoutCredential.push({ userId: user.user_id, status: user.status });
    return true;
  }
  return false;
}

/** Zoom ended the grant: Recall cannot validate a new credential, its token callback has nothing to give. */
function grantDead(user: RotationUser): boolean {
  return user.status === 'reauth_required' || user.status === 'deauthorized';
}
