/**
 * One signing-key rotation at a time: the lock file beside the rotation's state file
 * (cli/key-stores.ts), its stale-lock rule, and rotateSigningKey holding it for the whole run.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireFileLock, FileKeyStore, FileStateStore } from '../../cli/key-stores';
import { rotateSigningKey, RotationError, type RotationDeps } from '../../cli/rotation';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotation-lock-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

test('a second rotation while one runs is refused naming the holder; after the first ends, it runs', async () => {
  // Prepare: the first rotation stops, holding the lock, after its first step
  const keyFile = join(dir, 'signing-keys.json');
  await writeFile(keyFile, JSON.stringify({ active: 'k1', k1: 'a'.repeat(48) }));
  const stateFile = join(dir, 'rotation-state.json');
  let reachedPlanned!: () => void;
  const planned = new Promise<void>((resolve) => (reachedPlanned = resolve));
  let proceed!: () => void;
  const gate = new Promise<void>((resolve) => (proceed = resolve));
  const deps = (extra: Partial<RotationDeps> = {}): RotationDeps => ({
    keys: new FileKeyStore(keyFile, 0),
    state: new FileStateStore(stateFile),
    users: async function* () {
      yield { user_id: 'u1', status: 'active' };
    },
    resync: async () => undefined,
    status: async () => undefined,
    ...extra,
  });
  const first = rotateSigningKey(
    deps({
      hooks: {
        afterPhase: async (phase) => {
          if (phase === 'planned') {
            reachedPlanned();
            await gate;
          }
        },
      },
    }),
  );
  await planned;

  // Act
  const refused = await failure(rotateSigningKey(deps()));
  proceed();
  const done = await first;
  const lockWhileIdle = existsSync(`${stateFile}.lock`);
  const second = await rotateSigningKey(deps());

  // Assess
  expect(refused).toBeInstanceOf(RotationError);
  expect(refused.message).toContain('another rotation is running');
  expect(refused.message).toContain(`pid ${process.pid}`);
  expect(done).toMatchObject({ outcome: 'done', oldKid: 'k1', newKid: 'k2' });
  expect(lockWhileIdle).toBe(false);
  expect(second).toMatchObject({ outcome: 'done', oldKid: 'k2', newKid: 'k3' });
  expect(JSON.parse(await readFile(keyFile, 'utf8')).active).toBe('k3');
});

test('the lock is released when the rotation fails', async () => {
  // Prepare
  const stateFile = join(dir, 'rotation-state.json');
  const deps: RotationDeps = {
    keys: new FileKeyStore(join(dir, 'missing-keys.json'), 0),
    state: new FileStateStore(stateFile),
    users: async function* () {},
    resync: async () => undefined,
    status: async () => undefined,
  };

  // Act
  const error = await failure(rotateSigningKey(deps));

  // Assess
  expect(error).toBeInstanceOf(RotationError);
  expect(error.message).toContain('does not exist');
  expect(existsSync(`${stateFile}.lock`)).toBe(false);
});

describe('stale locks', () => {
  const lockFile = () => join(dir, 'state.json.lock');
  const writeLock = (owner: object) =>
    writeFile(lockFile(), JSON.stringify({ startedAt: '2030-01-01T00:00:00.000Z', token: 'old', ...owner }));

  test('a holder on this host that no longer runs: taken over', async () => {
    // Prepare
    await writeLock({ pid: 424242, host: hostname() });

    // Act
    const release = await acquireFileLock(lockFile(), { alive: (pid) => pid !== 424242 });
    const held = JSON.parse(await readFile(lockFile(), 'utf8'));
    await release();

    // Assess
    expect(held).toMatchObject({ pid: process.pid, host: hostname() });
    expect(existsSync(lockFile())).toBe(false);
  });

  test('a holder elsewhere: refused while the file is touched, taken over once untouched for the stale time', async () => {
    // Prepare
    await writeLock({ pid: 1, host: 'another-machine' });

    // Act
    const fresh = await failure(acquireFileLock(lockFile(), { staleMs: 60_000 }));
    const old = new Date(Date.now() - 61_000);
    await utimes(lockFile(), old, old);
    const release = await acquireFileLock(lockFile(), { staleMs: 60_000 });
    const held = JSON.parse(await readFile(lockFile(), 'utf8'));
    await release();

    // Assess
    expect(fresh).toBeInstanceOf(RotationError);
    expect(fresh.message).toContain('pid 1 on another-machine');
    expect(held.pid).toBe(process.pid);
  });

  test('a live holder on this host: refused, and its file is left alone', async () => {
    // Prepare
    const release = await acquireFileLock(lockFile());
    const before = await readFile(lockFile(), 'utf8');

    // Act
    const error = await failure(acquireFileLock(lockFile()));

    // Assess
    expect(error).toBeInstanceOf(RotationError);
    expect(await readFile(lockFile(), 'utf8')).toBe(before);
    await release();
  });

  test('the holder keeps its lock fresh while it runs', async () => {
    // Prepare
    const release = await acquireFileLock(lockFile(), { heartbeatMs: 20 });
    const old = new Date(Date.now() - 120_000);
    await utimes(lockFile(), old, old);

    // Act
    await new Promise((resolve) => setTimeout(resolve, 100));
    const error = await failure(acquireFileLock(lockFile(), { staleMs: 60_000, alive: () => true }));
    await release();

    // Assess
    expect(error).toBeInstanceOf(RotationError);
  });
});
