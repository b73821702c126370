/**
 * Rotating the callback-signing key (README, "How the URL is signed") as a resumable state
 * machine. Every step is recorded in a state file before the next begins, and every step can be
 * repeated, so an interrupted run (Ctrl-C, a crash, a lost laptop lid) is simply run again:
 *
 *   planned        the old and new key ids are chosen (no key material is ever written here)
 *   key_added      the new key is in the keyring, not yet active; wait until every function
 *                  knows it, so a URL signed with it is never refused
 *   key_activated  the new key signs new URLs; wait until every function signs with it, so no
 *                  new URL with the old key appears after the re-sync
 *   syncing        every user re-synced with Recall (token-free), with bounded concurrency; the
 *                  ids done are recorded, so a resumed run skips them
 *   users_synced   the old key is removed: URLs signed with it stop working
 *
 * The keyring (a local file, or the Secrets Manager secret in AWS) and the state store are
 * behind small interfaces (./key-stores.ts).
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError, VaultError } from '../client/errors';
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
  /** Users not re-synced because their grant is dead: a new PUT after re-authorization signs with the active key. */
  skipped: Array<{ userId: string; status: string }>;
  /** The last run's failures; retried by the next run. */
  failed: Array<{ userId: string; status: number; code: string }>;
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

export interface RotationUser {
  user_id: string;
  status: string;
}

export interface RotationDeps {
  keys: KeyStore;
  state: StateStore;
  /** Every registered user (all statuses). */
  users: () => AsyncIterable<RotationUser>;
  resync: (userId: string) => Promise<unknown>;
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
  outcome: 'done' | 'incomplete';
  oldKid: string;
  newKid: string;
  synced: number;
  skipped: RotationState['skipped'];
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
    return await rotate(deps);
  } finally {
    await release?.();
  }
}

async function rotate(deps: RotationDeps): Promise<RotationResult> {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = deps.log ?? (() => undefined);
  const propagationMs = deps.propagationMs ?? deps.keys.propagationMs;
  const where = deps.keys.description;

  let saving = Promise.resolve();
  /** Saves are queued so concurrent workers never interleave writes; each saves a snapshot. */
  const save = (state: RotationState) => {
    const snapshot = structuredClone(state);
    saving = saving.then(() => deps.state.save(snapshot));
    return saving;
  };
  const waitUntil = async (at: number, why: string) => {
    const remaining = at - clock();
    if (remaining > 0) {
      log(`waiting ${Math.ceil(remaining / 1000)} s ${why}`);
      await sleep(remaining);
    }
  };
  const enter = async (state: RotationState, phase: RotationPhase) => {
    state.phase = phase;
    await save(state);
    await deps.hooks?.afterPhase?.(phase);
  };

  let state = await deps.state.load();
  if (state) {
    log(
      `resuming the rotation ${state.oldKid} → ${state.newKid} (phase ${state.phase}, ${state.synced.length} users re-synced so far; state in ${deps.state.description})`,
    );
  } else {
    const keyring = checkKeyring(await deps.keys.read(), where);
    state = {
      version: 1,
      startedAt: new Date(clock()).toISOString(),
      oldKid: keyring.active,
      newKid: nextKeyId(keyring),
      phase: 'planned',
      synced: [],
      skipped: [],
      failed: [],
    };
    log(`rotating the signing key ${state.oldKid} → ${state.newKid} (keys in ${where}; state in ${deps.state.description})`);
    await enter(state, 'planned');
  }
  const { oldKid, newKid } = state;

  if (state.phase === 'planned') {
    const keyring = checkKeyring(await deps.keys.read(), where);
    if (!(newKid in keyring)) {
      // Written only here; a run that died after this write finds the key and keeps it.
      await deps.keys.write({ ...keyring, [newKid]: (deps.newKeyMaterial ?? (() => randomBytes(48).toString('base64url')))() });
    }
    state.keyAddedAt = clock();
    log(`phase 1/4: added ${newKid} (not active yet)`);
    await enter(state, 'key_added');
  }

  if (state.phase === 'key_added') {
    await waitUntil((state.keyAddedAt ?? 0) + propagationMs, `until every function knows ${newKid}`);
    const keyring = checkKeyring(await deps.keys.read(), where);
    if (!(newKid in keyring))
      throw new RotationError(
        `${where} no longer holds ${newKid}: the keyring was changed outside this rotation; delete ${deps.state.description} to start over`,
      );
    if (keyring.active !== newKid) await deps.keys.write({ ...keyring, active: newKid });
    state.activatedAt = clock();
    log(`phase 2/4: ${newKid} is active`);
    await enter(state, 'key_activated');
  }

  if (state.phase === 'key_activated') {
    await waitUntil((state.activatedAt ?? 0) + propagationMs, `until every function signs with ${newKid}`);
    await enter(state, 'syncing');
  }

  if (state.phase === 'syncing') {
    const keyring = checkKeyring(await deps.keys.read(), where);
    if (keyring.active !== newKid)
      throw new RotationError(
        `${where}: the active key is ${keyring.active}, not ${newKid}: the keyring was changed outside this rotation`,
      );
    const done = new Set(state.synced);
    const todo: string[] = [];
    state.skipped = [];
    state.failed = [];
    for await (const user of deps.users()) {
      if (done.has(user.user_id) || todo.includes(user.user_id)) continue;
      if (user.status === 'reauth_required' || user.status === 'deauthorized')
        state.skipped.push({ userId: user.user_id, status: user.status });
      else todo.push(user.user_id);
    }
    log(
      `phase 3/4: re-syncing ${todo.length} users with Recall (${done.size} done before, ${state.skipped.length} skipped: re-authorization needed)`,
    );
    const progress = new Progress('re-sync', todo.length, deps.progress ?? { write: () => undefined });
    const current = state;
    try {
      await forEachLimited(todo, deps.concurrency ?? 8, async (userId) => {
        try {
          await deps.resync(userId);
        } catch (error) {
          // Gone meanwhile (deleted): nothing left to move. Other answers are retried by the next run.
          if (!(error instanceof NotFoundError)) {
            if (!(error instanceof VaultError)) throw error;
            current.failed.push({ userId, status: error.status, code: error.code });
            progress.tick();
            return;
          }
        }
        current.synced.push(userId);
        progress.tick();
        await save(current);
        await deps.hooks?.afterUserSynced?.(userId, current.synced.length);
      });
    } finally {
      progress.close();
      await saving.catch(() => undefined);
    }
    progress.finish(`${todo.length - current.failed.length} re-synced, ${current.failed.length} failed`);
    if (current.failed.length > 0) {
      await save(current);
      log(`${current.failed.length} users could not be re-synced; ${oldKid} is kept. Run the command again to retry them.`);
      return { outcome: 'incomplete', oldKid, newKid, synced: current.synced.length, skipped: current.skipped, failed: current.failed };
    }
    await enter(current, 'users_synced');
  }

  if (state.phase === 'users_synced') {
    const keyring = checkKeyring(await deps.keys.read(), where);
    if (keyring.active !== newKid)
      throw new RotationError(`${where}: the active key is ${keyring.active}, not ${newKid}: not removing ${oldKid}`);
    if (oldKid in keyring) {
      const { [oldKid]: _removed, ...rest } = keyring;
      await deps.keys.write(rest);
    }
    log(`phase 4/4: removed ${oldKid}; URLs signed with it stop working within ${Math.ceil(propagationMs / 1000)} s`);
    await saving;
    await deps.state.clear();
    await deps.hooks?.afterPhase?.('done');
  }

  return { outcome: 'done', oldKid, newKid, synced: state.synced.length, skipped: state.skipped, failed: [] };
}
