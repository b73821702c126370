/**
 * Where the signing keys and the rotation's progress live.
 * - Local runtime: DATA_DIR/signing-keys.json (re-read by the functions every second), and the
 *   state beside it in DATA_DIR/rotation-state.json.
 * - AWS: the stack's Secrets Manager secret (`SigningKeysSecretArn`; the functions cache it for
 *   5 minutes), and the state in a local file named after the stack.
 * Files are replaced atomically (write beside, then rename) with mode 0600: they hold secrets.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { checkKeyring, RotationError, type Keyring, type KeyStore, type RotationState, type StateStore } from './rotation';

/** The local runtime re-reads the key file at most once a second: two seconds and every function has the change. */
export const LOCAL_PROPAGATION_MS = 2_000;
/** The functions cache the secret for 5 minutes (functions/adapters/secrets.ts); a little margin on top. */
export const AWS_PROPAGATION_MS = 5 * 60_000 + 15_000;

export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, content, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

async function readJson(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new RotationError(`${path} is not JSON`);
  }
}

export class FileKeyStore implements KeyStore {
  readonly description: string;
  constructor(
    private readonly path: string,
    readonly propagationMs = LOCAL_PROPAGATION_MS,
  ) {
    this.description = path;
  }

  async read(): Promise<Keyring> {
    const parsed = await readJson(this.path);
    if (parsed === undefined)
      throw new RotationError(`${this.path} does not exist (has the local runtime been started with this DATA_DIR?)`);
    return checkKeyring(parsed, this.path);
  }

  async write(keyring: Keyring): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify(keyring));
  }
}

export class SecretsManagerKeyStore implements KeyStore {
  readonly description: string;
  private readonly client: SecretsManagerClient;

  constructor(
    private readonly secretId: string,
    region: string | undefined,
    readonly propagationMs = AWS_PROPAGATION_MS,
  ) {
    this.description = `secret ${secretId}`;
    this.client = new SecretsManagerClient(region ? { region } : {});
  }

  async read(): Promise<Keyring> {
    const answer = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (typeof answer.SecretString !== 'string') throw new RotationError(`${this.description} has no string value`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.SecretString);
    } catch {
      throw new RotationError(`${this.description} is not JSON`);
    }
    return checkKeyring(parsed, this.description);
  }

  async write(keyring: Keyring): Promise<void> {
    // A new version, labelled AWSCURRENT: what the functions read once their cache expires.
    await this.client.send(new PutSecretValueCommand({ SecretId: this.secretId, SecretString: JSON.stringify(keyring) }));
  }
}

/** A held lock's file is touched this often; one untouched for LOCK_STALE_MS is stale (its holder died). */
export const LOCK_HEARTBEAT_MS = 10_000;
export const LOCK_STALE_MS = 60_000;

interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Random: tells this holder's file from a successor's. */
  token: string;
}

export interface LockOptions {
  staleMs?: number;
  heartbeatMs?: number;
  /** Whether a process of this host is alive (tests). */
  alive?: (pid: number) => boolean;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock file (`<state file>.lock`, created exclusively) so two rotations never run at once.
 * Stale, and taken over, when its holder is a process of this host that no longer exists, or
 * when it has not been touched for `staleMs` (the holder touches it every `heartbeatMs`, also
 * while it waits for the keys to propagate), which covers a holder on another machine sharing
 * the directory. A takeover renames the stale file aside and checks it is the one judged stale.
 */
export async function acquireFileLock(path: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const heartbeatMs = options.heartbeatMs ?? LOCK_HEARTBEAT_MS;
  const alive = options.alive ?? processAlive;
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    token: randomBytes(12).toString('hex'),
  };
  for (let attempt = 0; !(await createLockFile(path, owner)); attempt++) {
    const holder = await readLock(path);
    if (holder === 'gone') continue;
    const age = holder.mtimeMs === undefined ? 0 : Date.now() - holder.mtimeMs;
    const dead = holder.owner?.host === owner.host && typeof holder.owner.pid === 'number' && !alive(holder.owner.pid);
    const stale = dead || age > staleMs || (holder.owner === undefined && age > heartbeatMs);
    if (!stale || attempt >= 3) {
      const who = holder.owner ? `pid ${holder.owner.pid} on ${holder.owner.host}, since ${holder.owner.startedAt}` : 'unknown holder';
      throw new RotationError(
        `another rotation is running (${who}; lock ${path}). If it is not, delete the lock file; it is also taken over once untouched for ${Math.round(staleMs / 1000)} s.`,
      );
    }
    await takeOverStaleLock(path, holder.owner);
  }
  return holdLock(path, owner, heartbeatMs);
}

/** Creates the lock file, exclusively; false when it exists already. */
async function createLockFile(path: string, owner: LockOwner): Promise<boolean> {
  try {
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(owner)}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

/**
 * Moves the stale file aside and makes sure it was that one (not a successor's new lock); the
 * caller then tries to create the lock again either way.
 */
async function takeOverStaleLock(path: string, staleOwner: LockOwner | undefined): Promise<void> {
  const aside = `${path}.stale.${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readLock(aside);
  if (moved !== 'gone' && moved.owner?.token !== staleOwner?.token) {
    // A successor's lock: put it back (unless yet another one exists) and report it as held.
    await link(aside, path).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return;
  }
  await rm(aside, { force: true });
}

/** Touches the lock every `heartbeatMs` until released; the release removes it if it is still ours. */
function holdLock(path: string, owner: LockOwner, heartbeatMs: number): () => Promise<void> {
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  heartbeat.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    const current = await readLock(path);
    if (current !== 'gone' && current.owner?.token === owner.token) await rm(path, { force: true });
  };
}

async function readLock(path: string): Promise<{ owner?: LockOwner; mtimeMs?: number } | 'gone'> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(text) as LockOwner;
    } catch {
      // Being written right now, or damaged: judged by its age alone.
    }
    return { owner, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
}

export class FileStateStore implements StateStore {
  readonly description: string;
  constructor(
    private readonly path: string,
    private readonly lockOptions: LockOptions = {},
  ) {
    this.description = path;
  }

  /** `<state file>.lock` beside the state file. */
  lock(): Promise<() => Promise<void>> {
    return acquireFileLock(`${this.path}.lock`, this.lockOptions);
  }

  async load(): Promise<RotationState | undefined> {
    const parsed = (await readJson(this.path)) as Partial<RotationState> | undefined;
    if (parsed === undefined) return undefined;
    if (
      parsed.version !== 1 ||
      typeof parsed.oldKid !== 'string' ||
      typeof parsed.newKid !== 'string' ||
      typeof parsed.phase !== 'string' ||
      !Array.isArray(parsed.synced)
    ) {
      throw new RotationError(`${this.path} is not a rotation state this version understands`);
    }
    return { skipped: [], failed: [], ...parsed } as RotationState;
  }

  async save(state: RotationState): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
