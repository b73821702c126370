/**
 * Where the signing keys and the rotation's progress live.
 * - Local runtime: DATA_DIR/signing-keys.json (re-read by the functions every second), and the
 *   state beside it in DATA_DIR/rotation-state.json.
 * - AWS: the stack's Secrets Manager secret (`SigningKeysSecretArn`; the functions cache it for
 *   5 minutes), and the state in a local file named after the stack.
 * Files are replaced atomically (write beside, then rename) with mode 0600: they hold secrets.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
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
    if (parsed === undefined) throw new RotationError(`${this.path} does not exist (has the local runtime been started with this DATA_DIR?)`);
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

export class FileStateStore implements StateStore {
  readonly description: string;
  constructor(private readonly path: string) {
    this.description = path;
  }

  async load(): Promise<RotationState | undefined> {
    const parsed = (await readJson(this.path)) as Partial<RotationState> | undefined;
    if (parsed === undefined) return undefined;
    if (parsed.version !== 1 || typeof parsed.oldKid !== 'string' || typeof parsed.newKid !== 'string' || typeof parsed.phase !== 'string' || !Array.isArray(parsed.synced)) {
      throw new RotationError(`${this.path} is not a rotation state this version understands`);
    }
    return { skipped: [], failed: [], ...parsed } as RotationState;
  }

  async save(state: RotationState): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify(state, null, 2) + '\n');
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
