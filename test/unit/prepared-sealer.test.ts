/**
 * The data key a refresh reserves before it spends the refresh token (KmsEnvelopeCipher.prepare):
 * its Sealer seals the answer with no KMS call, however old or used-up the key is by then and
 * whatever KMS does meanwhile. KMS here is a hand-written stand-in for KMSClient (`send` for
 * GenerateDataKey and Decrypt) that can be told to fail every call.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import { refreshUser } from '../../functions/domain/refresh';
import { sealedTokensOf } from '../../functions/domain/token-record';
import type { StoredUser, TokenPair } from '../../functions/domain/token-record';
import { ManualClock, settle, World } from '../support/in-memory';

const TOKENS: TokenPair = { accessToken: 'access-new', refreshToken: 'refresh-new', scope: 'user:read:user' };

/** KMS in memory: data keys remembered by their "encrypted" blob; `failing` makes every call throw. */
class StandInKms {
  failing = false;
  readonly calls = { GenerateDataKey: 0, Decrypt: 0 };
  private readonly keys = new Map<string, Buffer>();

  async send(command: unknown): Promise<unknown> {
    if (this.failing) {
      const error = new Error('KMS is unavailable');
      error.name = 'KMSInternalException';
      throw error;
    }
    if (command instanceof GenerateDataKeyCommand) {
      this.calls.GenerateDataKey += 1;
      const plaintext = randomBytes(32);
      const blob = Buffer.from(`edk-${randomUUID()}`);
      this.keys.set(blob.toString('base64'), plaintext);
      return { Plaintext: new Uint8Array(plaintext), CiphertextBlob: new Uint8Array(blob) };
    }
    if (command instanceof DecryptCommand) {
      this.calls.Decrypt += 1;
      const key = this.keys.get(Buffer.from(command.input.CiphertextBlob!).toString('base64'));
      if (!key) {
        const error = new Error('unknown data key');
        error.name = 'InvalidCiphertextException';
        throw error;
      }
      return { Plaintext: new Uint8Array(key) };
    }
    throw new Error('unexpected command');
  }
}

/** The record a test pair is sealed for. */
const owner = (userId: string) => ({ userId, registrationId: `registration-${userId}`, tokenGeneration: 1 });

function cipherOn(kms: StandInKms, clock: ManualClock, limits: { dataKeyMaxAgeMs?: number; dataKeyMaxUses?: number } = {}) {
  return new KmsEnvelopeCipher({ kms: kms as unknown as KMSClient, keyId: 'key-1', clock: clock.clock, ...limits });
}

describe('KmsEnvelopeCipher.prepare', () => {
  test("the sealer seals after the data key's age limit has passed, while KMS fails every call", async () => {
    // Prepare
    const kms = new StandInKms();
    const clock = new ManualClock();
    const cipher = cipherOn(kms, clock, { dataKeyMaxAgeMs: 60_000 });
    const sealer = await cipher.prepare();

    // Act: ten minutes later (the key long past its age), with KMS down.
    clock.advance(600_000);
    kms.failing = true;
    const sealed = sealer.seal(owner('u1'), TOKENS);
    const plainSeal = cipher.seal(owner('u2'), TOKENS);

    // Assess: the sealer needed no KMS; a seal without a reservation does.
    await expect(plainSeal).rejects.toMatchObject({ name: 'KMSInternalException' });
    expect(kms.calls.GenerateDataKey).toBe(1);
    kms.failing = false;
    const reader = cipherOn(kms, new ManualClock());
    expect(await reader.open(owner('u1'), sealed)).toEqual(TOKENS);
  });

  test("the sealer seals after the data key's use limit was reached by other writers, while KMS fails", async () => {
    // Prepare: a key good for two records; the reservation is one, another writer takes the other.
    const kms = new StandInKms();
    const clock = new ManualClock();
    const cipher = cipherOn(kms, clock, { dataKeyMaxUses: 2 });
    const sealer = await cipher.prepare();
    await cipher.seal(owner('other'), TOKENS);

    // Act
    kms.failing = true;
    const sealed = sealer.seal(owner('u1'), TOKENS);
    const overLimit = cipher.seal(owner('u2'), TOKENS);

    // Assess
    await expect(overLimit).rejects.toMatchObject({ name: 'KMSInternalException' });
    expect(kms.calls.GenerateDataKey).toBe(1);
    kms.failing = false;
    expect(await cipherOn(kms, new ManualClock()).open(owner('u1'), sealed)).toEqual(TOKENS);
  });

  test('a refresh whose Zoom answer comes after the key aged out, with KMS down, still stores the new pair', async () => {
    // Prepare: a user sealed with the KMS cipher; the refresh's Zoom answer is held back.
    const world = new World();
    const kms = new StandInKms();
    const cipher = cipherOn(kms, world.clock, { dataKeyMaxAgeMs: 5_000 });
    const grant = world.zoom.authorize('zoom-u1', 200);
    const now = world.clock.now();
    const user: StoredUser = {
      userId: 'u1',
      registrationId: 'registration-u1',
      version: 1,
      status: 'active',
      sealed: await cipher.seal(owner('u1'), grant.tokens),
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
      tokenGeneration: 1,
      registeredGeneration: 1,
      createdAt: now,
      updatedAt: now,
      recall: { status: 'registered', credentialId: 'cred-u1', callbackKeyId: 'k1' },
    };
    await world.store.create(user);
    const answer = world.zoom.next({ hold: 'after' });
    const refresh = refreshUser('u1', now + 300_000, world.refreshDeps('A', { cipher }));
    await answer.reached.promise;

    // Act: the key ages out and KMS goes down before Zoom's answer arrives.
    world.clock.advance(6_000);
    kms.failing = true;
    answer.release();
    const outcome = await refresh;
    await settle();

    // Assess
    expect(outcome.kind).toBe('refreshed');
    expect(world.zoom.stats).toEqual({ refreshCalls: 1, refreshOk: 1, invalidGrant: 0 });
    kms.failing = false;
    const stored = world.store.peek('u1')!;
    expect(stored).toMatchObject({ status: 'active', tokenGeneration: 2 });
    expect((await cipherOn(kms, new ManualClock()).open(stored, sealedTokensOf(stored))).refreshToken).toBe(
      world.zoom.currentRefreshToken('zoom-u1'),
    );
  });
});
