/**
 * The signing-key provider: a URL naming a key id the cached keyring lacks triggers a fresh
 * read (a rotation's new key works at once), but at most once per interval (made-up key ids
 * must not turn into a flood of secret reads).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingKeyProvider } from '../../functions/adapters/secrets';
import { TIMING } from '../../functions/domain/timing';

const key = (c: string) => c.repeat(40);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signing-keys-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a fresh read sees a key added since the last read; a second one within the interval does not read again', async () => {
  // Prepare: a provider that has read k1, then the file gains k2
  const file = join(dir, 'keys.json');
  await writeFile(file, JSON.stringify({ active: 'k1', k1: key('a') }));
  let now = 1_000_000;
  const provider = signingKeyProvider({ file }, () => now);
  await provider.keyring();
  await writeFile(file, JSON.stringify({ active: 'k1', k1: key('a'), k2: key('b') }));

  // Act
  const cached = await provider.keyring();
  const fresh = await provider.keyring({ fresh: true });
  await writeFile(file, JSON.stringify({ active: 'k1', k1: key('a'), k2: key('b'), k3: key('c') }));
  const refusedFresh = await provider.keyring({ fresh: true });
  now += TIMING.keyringRefreshMinIntervalMs;
  const allowedFresh = await provider.keyring({ fresh: true });

  // Assess
  expect(cached.key('k2')).toBeUndefined();
  expect(fresh.key('k2')).toBeDefined();
  expect(refusedFresh.key('k3')).toBeUndefined();
  expect(allowedFresh.key('k3')).toBeDefined();
});
