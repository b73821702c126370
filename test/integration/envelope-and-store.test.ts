/**
 * KmsEnvelopeCipher and DynamoTokenStore against real components over loopback HTTP: the real
 * KMSClient talking to the local KMS stand-in, the real DynamoDBClient talking to dynalite.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ENCRYPTION_CONTEXT,
  FORMAT_VERSION,
  KmsEnvelopeCipher,
  type EnvelopeCipherOptions,
} from '../../functions/adapters/kms-envelope-cipher';
import { DynamoTokenStore } from '../../functions/adapters/dynamo-token-store';
import { ConflictError, UnreadableRecordError } from '../../functions/domain/errors';
import type { SealedTokens } from '../../functions/domain/ports';
import { sealedTokensOf, type SealOwner, type StoredUser, type TokenPair } from '../../functions/domain/token-record';
import { startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';
import { DEFAULT_KEY_ID, startKmsServer, type KmsServer } from '../../local/kms/kms-server';

const BASE_TIME = 1_760_000_000_000;

let dir: string;
let kms: KmsServer;
let kmsClient: KMSClient;
let dynamo: Dynalite;
let ddb: DynamoDBClient;
const extraClients: KMSClient[] = [];

function kmsClientFor(url: string, maxAttempts = 3): KMSClient {
  const client = new KMSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    maxAttempts,
  });
  extraClients.push(client);
  return client;
}

function newCipher(options: Partial<EnvelopeCipherOptions> = {}): KmsEnvelopeCipher {
  return new KmsEnvelopeCipher({ kms: kmsClient, keyId: kms.keyArn(DEFAULT_KEY_ID), ...options });
}

let idCounter = 0;
/** A user id no other test uses, so tests sharing the table do not see each other's items. */
function uniqueId(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

function tokensFor(userId: string, scope?: string): TokenPair {
  return {
    accessToken: `access-token-of-${userId}-AAAAAAAAAAAAAAAA`,
    refreshToken: `refresh-token-of-${userId}-RRRRRRRRRRRRRRRR`,
    ...(scope === undefined ? {} : { scope }),
  };
}

/** The owner a test pair is sealed for: the record makeUser(userId) makes, at `tokenGeneration`. */
function owner(userId: string, tokenGeneration = 1): SealOwner {
  return { userId, registrationId: `registration-${userId}`, tokenGeneration };
}

/** A StoredUser with sensible defaults; `sealed` defaults to recognisable dummy bytes. */
function makeUser(userId: string, overrides: Partial<StoredUser> = {}): StoredUser {
  return {
    userId,
    registrationId: `registration-${userId}`,
    version: 1,
    status: 'active',
    sealed: {
      formatVersion: FORMAT_VERSION,
      encryptedDataKey: Buffer.from(`edk-${userId}`),
      iv: Buffer.alloc(12, 7),
      ciphertext: Buffer.from(`ciphertext-${userId}-with-tag-bytes`),
    },
    accessTokenExpiresAt: BASE_TIME + 3_600_000,
    tokenGeneration: 1,
    createdAt: BASE_TIME,
    updatedAt: BASE_TIME,
    recall: { status: 'pending' },
    ...overrides,
  };
}

/** Plain-Buffer copy of a sealed record, so comparisons do not depend on Buffer vs Uint8Array. */
function plainSealed(sealed: SealedTokens) {
  return {
    formatVersion: sealed.formatVersion,
    encryptedDataKey: Buffer.from(sealed.encryptedDataKey).toString('base64'),
    iv: Buffer.from(sealed.iv).toString('base64'),
    ciphertext: Buffer.from(sealed.ciphertext).toString('base64'),
  };
}

function withByteFlipped(bytes: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(bytes);
  const at = index < 0 ? copy.length + index : index;
  copy[at] ^= 0x01;
  return copy;
}

async function rawItem(userId: string): Promise<Record<string, AttributeValue> | undefined> {
  const answer = await ddb.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: userId } }, ConsistentRead: true }));
  return answer.Item;
}

async function dueUsers(store: DynamoTokenStore, dueBefore: number, prefix: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for await (const due of store.listDue(dueBefore)) {
    if (due.userId.startsWith(prefix)) {
      expect(found.has(due.userId)).toBe(false); // every user at most once across shards
      found.set(due.userId, due.dueAt);
    }
  }
  return found;
}

async function errorFrom(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'envelope-and-store-'));
  kms = await startKmsServer({ keyFile: join(dir, 'kms-keys.json') });
  kmsClient = kmsClientFor(kms.url);
  dynamo = await startDynalite();
  ddb = dynamo.client();
});

afterAll(async () => {
  for (const client of extraClients) client.destroy();
  ddb.destroy();
  await kms.close();
  await dynamo.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('KmsEnvelopeCipher: sealing', () => {
  it('round-trips tokens with a scope', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('rt');
    const tokens = tokensFor(userId, 'meeting:read recording:read');

    // Act
    const sealed = await cipher.seal(owner(userId), tokens);
    const opened = await newCipher().open(owner(userId), sealed);

    // Assess
    expect(sealed.formatVersion).toBe(FORMAT_VERSION);
    expect(sealed.iv).toHaveLength(12);
    expect(opened).toEqual(tokens);
    expect(opened.scope).toBe('meeting:read recording:read');
  });

  it('round-trips tokens without a scope, leaving scope absent', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('rt');
    const tokens = tokensFor(userId);

    // Act
    const opened = await cipher.open(owner(userId), await cipher.seal(owner(userId), tokens));

    // Assess
    expect(opened).toStrictEqual({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken });
    expect('scope' in opened).toBe(false);
  });

  it('keeps the token bytes out of the sealed record', async () => {
    // Prepare
    const userId = uniqueId('opaque');
    const tokens = tokensFor(userId, 'scope-in-clear?');

    // Act
    const sealed = await newCipher().seal(owner(userId), tokens);

    // Assess
    for (const part of [sealed.ciphertext, sealed.encryptedDataKey, sealed.iv]) {
      const bytes = Buffer.from(part);
      expect(bytes.includes(tokens.accessToken)).toBe(false);
      expect(bytes.includes(tokens.refreshToken)).toBe(false);
      expect(bytes.includes('scope-in-clear?')).toBe(false);
      expect(bytes.includes('access-token-of')).toBe(false);
    }
    // Ciphertext = JSON body + 16-byte tag: as long as the plaintext, not padded or compressed away.
    const body = JSON.stringify({ a: tokens.accessToken, r: tokens.refreshToken, s: tokens.scope });
    expect(sealed.ciphertext).toHaveLength(Buffer.byteLength(body) + 16);
  });

  it('gives two seals of the same tokens different IVs and ciphertexts under the same data key', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('iv');
    const tokens = tokensFor(userId);

    // Act
    const first = await cipher.seal(owner(userId), tokens);
    const second = await cipher.seal(owner(userId), tokens);

    // Assess
    expect(Buffer.from(first.iv).equals(Buffer.from(second.iv))).toBe(false);
    expect(Buffer.from(first.ciphertext).equals(Buffer.from(second.ciphertext))).toBe(false);
    expect(Buffer.from(first.encryptedDataKey).equals(Buffer.from(second.encryptedDataKey))).toBe(true);
    expect(await cipher.open(owner(userId), first)).toEqual(tokens);
    expect(await cipher.open(owner(userId), second)).toEqual(tokens);
  });
});

describe('KmsEnvelopeCipher: records that must not open', () => {
  it('refuses a record opened as another user', async () => {
    // Prepare
    const cipher = newCipher();
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const sealed = await cipher.seal(owner(alice), tokensFor(alice));

    // Act
    const error = await errorFrom(cipher.open(owner(bob), sealed));

    // Assess
    expect(error).toBeInstanceOf(UnreadableRecordError);
    expect(error.message).toBe('sealed record failed authentication');
    expect(await cipher.open(owner(alice), sealed)).toEqual(tokensFor(alice));
  });

  it('refuses a pair opened for another registration or another generation of its user (issue 18, finding 5)', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('bound');
    const sealed = await cipher.seal(owner(userId, 3), tokensFor(userId));

    // Act
    const outcomes = await Promise.all([
      errorFrom(cipher.open({ ...owner(userId, 3), registrationId: 'a-deleted-registration' }, sealed)),
      errorFrom(cipher.open(owner(userId, 4), sealed)),
      errorFrom(newCipher().open(owner(userId, 2), sealed)),
    ]);

    // Assess
    for (const error of outcomes) expect(error).toBeInstanceOf(UnreadableRecordError);
    expect(await cipher.open(owner(userId, 3), sealed)).toEqual(tokensFor(userId));
  });

  it('opens a pair sealed in format 1 (the user id alone, records from before format 2); a format-2 pair relabelled 1 does not open', async () => {
    // Prepare: a format-1 pair as the previous release sealed it.
    const userId = uniqueId('v1');
    const dataKey = await kmsClient.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyArn(DEFAULT_KEY_ID), KeySpec: 'AES_256', EncryptionContext: { ...ENCRYPTION_CONTEXT } }),
    );
    const iv = randomBytes(12);
    const v1 = createCipheriv('aes-256-gcm', Buffer.from(dataKey.Plaintext!), iv);
    v1.setAAD(Buffer.from(`zoom-token-vault:v1:${userId}`, 'utf8'));
    const tokens = tokensFor(userId, 'user:read');
    const body = JSON.stringify({ a: tokens.accessToken, r: tokens.refreshToken, s: tokens.scope });
    const legacy: SealedTokens = {
      formatVersion: 1,
      encryptedDataKey: dataKey.CiphertextBlob!,
      iv,
      ciphertext: Buffer.concat([v1.update(body, 'utf8'), v1.final(), v1.getAuthTag()]),
    };
    const current = await newCipher().seal(owner(userId, 2), tokens);

    // Act
    const opened = await newCipher().open(owner(userId, 7), legacy);
    const downgraded = await errorFrom(newCipher().open(owner(userId, 2), { ...current, formatVersion: 1 }));

    // Assess
    expect(current.formatVersion).toBe(2);
    expect(opened).toEqual(tokens);
    expect(downgraded).toBeInstanceOf(UnreadableRecordError);
  });

  it('refuses records swapped between two users items in DynamoDB, for both users', async () => {
    // Prepare
    const cipher = newCipher();
    const store = new DynamoTokenStore({ client: ddb, tableName: TABLE_NAME });
    const alice = uniqueId('swap-alice');
    const bob = uniqueId('swap-bob');
    await store.create(makeUser(alice, { sealed: await cipher.seal(owner(alice), tokensFor(alice)) }));
    await store.create(makeUser(bob, { sealed: await cipher.seal(owner(bob), tokensFor(bob)) }));
    expect(await cipher.open(owner(alice), sealedTokensOf((await store.get(alice, { consistent: true }))!))).toEqual(tokensFor(alice));
    expect(await cipher.open(owner(bob), sealedTokensOf((await store.get(bob, { consistent: true }))!))).toEqual(tokensFor(bob));
    const aliceItem = (await rawItem(alice))!;
    const bobItem = (await rawItem(bob))!;

    // Act
    const copyOnto = (userId: string, from: Record<string, AttributeValue>) =>
      ddb.send(
        new UpdateItemCommand({
          TableName: TABLE_NAME,
          Key: { user_id: { S: userId } },
          UpdateExpression: 'SET ct = :ct, iv = :iv, edk = :edk',
          ExpressionAttributeValues: { ':ct': from.ct, ':iv': from.iv, ':edk': from.edk },
        }),
      );
    await copyOnto(alice, bobItem);
    await copyOnto(bob, aliceItem);
    const aliceNow = (await store.get(alice, { consistent: true }))!;
    const bobNow = (await store.get(bob, { consistent: true }))!;

    // Assess
    expect(Buffer.from(sealedTokensOf(aliceNow).ciphertext).equals(Buffer.from(bobItem.ct.B!))).toBe(true);
    expect(Buffer.from(sealedTokensOf(bobNow).ciphertext).equals(Buffer.from(aliceItem.ct.B!))).toBe(true);
    await expect(cipher.open(owner(alice), sealedTokensOf(aliceNow))).rejects.toBeInstanceOf(UnreadableRecordError);
    await expect(cipher.open(owner(bob), sealedTokensOf(bobNow))).rejects.toBeInstanceOf(UnreadableRecordError);
    await expect(newCipher().open(owner(alice), sealedTokensOf(aliceNow))).rejects.toBeInstanceOf(UnreadableRecordError);
  });

  it('refuses a record with one flipped bit in the ciphertext, IV, tag or encrypted data key', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('flip');
    const sealed = await cipher.seal(owner(userId), tokensFor(userId));
    const tampered: Array<[string, SealedTokens]> = [
      ['ciphertext first byte', { ...sealed, ciphertext: withByteFlipped(sealed.ciphertext, 0) }],
      ['ciphertext middle byte', { ...sealed, ciphertext: withByteFlipped(sealed.ciphertext, 20) }],
      ['iv', { ...sealed, iv: withByteFlipped(sealed.iv, 5) }],
      ['tag last byte', { ...sealed, ciphertext: withByteFlipped(sealed.ciphertext, -1) }],
      ['tag first byte', { ...sealed, ciphertext: withByteFlipped(sealed.ciphertext, -16) }],
      ['encrypted data key', { ...sealed, encryptedDataKey: withByteFlipped(sealed.encryptedDataKey, -3) }],
    ];

    // Act
    const outcomes = await Promise.all(
      tampered.map(async ([what, record]) => [what, await errorFrom(cipher.open(owner(userId), record))] as const),
    );

    // Assess
    for (const [what, error] of outcomes) {
      expect({ what, unreadable: error instanceof UnreadableRecordError }).toEqual({ what, unreadable: true });
    }
    expect(outcomes.find(([what]) => what === 'encrypted data key')![1].message).toBe(
      'data key rejected by KMS (InvalidCiphertextException)',
    );
    expect(await cipher.open(owner(userId), sealed)).toEqual(tokensFor(userId));
  });

  it('refuses a record with another format version, and a truncated one, without asking KMS', async () => {
    // Prepare
    const cipher = newCipher();
    const userId = uniqueId('fmt');
    const sealed = await cipher.seal(owner(userId), tokensFor(userId));
    kms.resetCounts();

    // Act
    const wrongVersion = await errorFrom(newCipher().open(owner(userId), { ...sealed, formatVersion: FORMAT_VERSION + 1 }));
    const zeroVersion = await errorFrom(newCipher().open(owner(userId), { ...sealed, formatVersion: 0 }));
    const shortIv = await errorFrom(newCipher().open(owner(userId), { ...sealed, iv: Buffer.from(sealed.iv).subarray(0, 11) }));
    const tagOnly = await errorFrom(
      newCipher().open(owner(userId), { ...sealed, ciphertext: Buffer.from(sealed.ciphertext).subarray(-16) }),
    );

    // Assess
    expect(wrongVersion).toBeInstanceOf(UnreadableRecordError);
    expect(wrongVersion.message).toBe('unknown record format');
    expect(zeroVersion).toBeInstanceOf(UnreadableRecordError);
    expect(shortIv).toBeInstanceOf(UnreadableRecordError);
    expect(shortIv.message).toBe('malformed sealed record');
    expect(tagOnly).toBeInstanceOf(UnreadableRecordError);
    expect(kms.counts().total).toBe(0);
  });

  it('refuses a record whose data key comes from another KMS (different key material)', async () => {
    // Prepare
    const otherKms = await startKmsServer({ keyFile: join(dir, 'other-kms-keys.json') });
    try {
      const otherCipher = new KmsEnvelopeCipher({ kms: kmsClientFor(otherKms.url), keyId: otherKms.keyArn(DEFAULT_KEY_ID) });
      const userId = uniqueId('other-kms');
      const sealed = await otherCipher.seal(owner(userId), tokensFor(userId));
      expect(await otherCipher.open(owner(userId), sealed)).toEqual(tokensFor(userId));
      kms.resetCounts();

      // Act
      const error = await errorFrom(newCipher().open(owner(userId), sealed));

      // Assess
      expect(error).toBeInstanceOf(UnreadableRecordError);
      expect(error.message).toBe('data key rejected by KMS (InvalidCiphertextException)');
      expect(kms.counts().Decrypt).toBe(1);
    } finally {
      await otherKms.close();
    }
  });
});

describe('KmsEnvelopeCipher: KMS call economy', () => {
  beforeEach(() => kms.resetCounts());

  it('seals 100 records with one GenerateDataKey and opens them in the same cipher with no Decrypt', async () => {
    // Prepare
    const cipher = newCipher();
    const userIds = Array.from({ length: 100 }, () => uniqueId('eco'));

    // Act
    const sealed: SealedTokens[] = [];
    for (const userId of userIds) sealed.push(await cipher.seal(owner(userId), tokensFor(userId)));
    const afterSeal = kms.counts();
    const opened = await Promise.all(userIds.map((userId, i) => cipher.open(owner(userId), sealed[i])));

    // Assess
    expect(afterSeal).toEqual({ GenerateDataKey: 1, Encrypt: 0, Decrypt: 0, total: 1 });
    expect(new Set(sealed.map((s) => Buffer.from(s.encryptedDataKey).toString('base64'))).size).toBe(1);
    expect(opened).toEqual(userIds.map((userId) => tokensFor(userId)));
    expect(kms.counts()).toEqual({ GenerateDataKey: 1, Encrypt: 0, Decrypt: 0, total: 1 });
  });

  it('makes one GenerateDataKey for 100 concurrent seals on a cold writer', async () => {
    // Prepare
    const cipher = newCipher();
    const userIds = Array.from({ length: 100 }, () => uniqueId('eco-par'));

    // Act
    const sealed = await Promise.all(userIds.map((userId) => cipher.seal(owner(userId), tokensFor(userId))));

    // Assess
    expect(kms.counts().GenerateDataKey).toBe(1);
    expect(new Set(sealed.map((s) => Buffer.from(s.encryptedDataKey).toString('base64'))).size).toBe(1);
  });

  it('makes exactly one Decrypt when a cold cipher opens 100 records of one data key concurrently', async () => {
    // Prepare
    const writer = newCipher();
    const userIds = Array.from({ length: 100 }, () => uniqueId('cold'));
    const sealed = await Promise.all(userIds.map((userId) => writer.seal(owner(userId), tokensFor(userId))));
    kms.resetCounts();
    const coldReader = newCipher();

    // Act
    const opened = await Promise.all(userIds.map((userId, i) => coldReader.open(owner(userId), sealed[i])));
    const again = await Promise.all(userIds.map((userId, i) => coldReader.open(owner(userId), sealed[i])));

    // Assess
    expect(opened).toEqual(userIds.map((userId) => tokensFor(userId)));
    expect(again).toEqual(opened);
    expect(kms.counts()).toEqual({ GenerateDataKey: 0, Encrypt: 0, Decrypt: 1, total: 1 });
  });

  it('makes exactly one Decrypt when a cold cipher opens 100 records of one data key one by one', async () => {
    // Prepare
    const writer = newCipher();
    const userIds = Array.from({ length: 100 }, () => uniqueId('cold-seq'));
    const sealed = await Promise.all(userIds.map((userId) => writer.seal(owner(userId), tokensFor(userId))));
    kms.resetCounts();
    const coldReader = newCipher();

    // Act
    for (let i = 0; i < userIds.length; i++) expect(await coldReader.open(owner(userIds[i]), sealed[i])).toEqual(tokensFor(userIds[i]));

    // Assess
    expect(kms.counts().Decrypt).toBe(1);
  });

  it('decrypts the data key again once the reader cache entry is older than decryptedKeyMaxAgeMs', async () => {
    // Prepare
    const userId = uniqueId('expire');
    const sealed = await newCipher().seal(owner(userId), tokensFor(userId));
    let now = BASE_TIME;
    const reader = newCipher({ clock: () => now, decryptedKeyMaxAgeMs: 60_000 });
    kms.resetCounts();

    // Act
    await reader.open(owner(userId), sealed);
    const afterFirst = kms.counts().Decrypt;
    now = BASE_TIME + 59_999;
    await reader.open(owner(userId), sealed);
    const beforeExpiry = kms.counts().Decrypt;
    now = BASE_TIME + 60_001;
    const opened = await reader.open(owner(userId), sealed);
    const afterExpiry = kms.counts().Decrypt;
    await reader.open(owner(userId), sealed);
    const afterRefill = kms.counts().Decrypt;

    // Assess
    expect(afterFirst).toBe(1);
    expect(beforeExpiry).toBe(1);
    expect(afterExpiry).toBe(2);
    expect(afterRefill).toBe(2);
    expect(opened).toEqual(tokensFor(userId));
  });

  it('evicts the least recently used decrypted key beyond decryptedKeyCacheSize', async () => {
    // Prepare: three records under three different data keys.
    const writer = newCipher({ dataKeyMaxUses: 1 });
    const ids = [uniqueId('lru-a'), uniqueId('lru-b'), uniqueId('lru-c')];
    const records: Array<readonly [string, SealedTokens]> = [];
    for (const id of ids) records.push([id, await writer.seal(owner(id), tokensFor(id))]); // one at a time: see the known bug below
    const [a, b, c] = records;
    expect(new Set([a, b, c].map(([, s]) => Buffer.from(s.encryptedDataKey).toString('base64'))).size).toBe(3);
    const reader = newCipher({ decryptedKeyCacheSize: 2 });
    kms.resetCounts();
    const decrypts = async ([id, sealed]: readonly [string, SealedTokens]) => {
      const before = kms.counts().Decrypt;
      await reader.open(owner(id), sealed);
      return kms.counts().Decrypt - before;
    };

    // Act
    const steps = [await decrypts(a), await decrypts(b), await decrypts(a), await decrypts(c), await decrypts(a), await decrypts(b)];

    // Assess: a and b cached; a touched; c evicts b (the least recent); a still cached; b asks again.
    expect(steps).toEqual([1, 1, 0, 1, 0, 1]);
  });

  it('rotates the writer data key after dataKeyMaxAgeMs', async () => {
    // Prepare
    let now = BASE_TIME;
    const writer = newCipher({ clock: () => now, dataKeyMaxAgeMs: 1_000 });
    const userId = uniqueId('age');

    // Act
    const first = await writer.seal(owner(userId), tokensFor(userId));
    now = BASE_TIME + 999;
    const stillFresh = await writer.seal(owner(userId), tokensFor(userId));
    const countBeforeRotation = kms.counts().GenerateDataKey;
    now = BASE_TIME + 1_000;
    const rotated = await writer.seal(owner(userId), tokensFor(userId));
    now = BASE_TIME + 1_500;
    const afterRotation = await writer.seal(owner(userId), tokensFor(userId));

    // Assess
    const edk = (s: SealedTokens) => Buffer.from(s.encryptedDataKey).toString('base64');
    expect(countBeforeRotation).toBe(1);
    expect(kms.counts().GenerateDataKey).toBe(2);
    expect(edk(stillFresh)).toBe(edk(first));
    expect(edk(rotated)).not.toBe(edk(first));
    expect(edk(afterRotation)).toBe(edk(rotated));
    const reader = newCipher();
    for (const sealed of [first, stillFresh, rotated, afterRotation])
      expect(await reader.open(owner(userId), sealed)).toEqual(tokensFor(userId));
    expect(kms.counts().Decrypt).toBe(2);
  });

  it('rotates the writer data key after dataKeyMaxUses records', async () => {
    // Prepare
    const writer = newCipher({ dataKeyMaxUses: 3 });
    const userId = uniqueId('uses');

    // Act
    const sealed: SealedTokens[] = [];
    for (let i = 0; i < 7; i++) sealed.push(await writer.seal(owner(userId), tokensFor(userId)));

    // Assess
    const edks = sealed.map((s) => Buffer.from(s.encryptedDataKey).toString('base64'));
    expect(kms.counts().GenerateDataKey).toBe(3);
    expect(edks.slice(0, 3).every((e) => e === edks[0])).toBe(true);
    expect(edks.slice(3, 6).every((e) => e === edks[3])).toBe(true);
    expect(edks[3]).not.toBe(edks[0]);
    expect(edks[6]).not.toBe(edks[3]);
    expect(edks[6]).not.toBe(edks[0]);
  });

  // Concurrent writers that find the key used up must each re-check the replacement's use count.
  it('never seals more than dataKeyMaxUses records with one data key, even concurrently', async () => {
    // Prepare
    const writer = newCipher({ dataKeyMaxUses: 10 });
    const userIds = Array.from({ length: 100 }, () => uniqueId('uses-par'));

    // Act
    const sealed = await Promise.all(userIds.map((userId) => writer.seal(owner(userId), tokensFor(userId))));

    // Assess
    const perKey = new Map<string, number>();
    for (const s of sealed) {
      const edk = Buffer.from(s.encryptedDataKey).toString('base64');
      perKey.set(edk, (perKey.get(edk) ?? 0) + 1);
    }
    expect(Math.max(...perKey.values())).toBeLessThanOrEqual(10);
    expect(kms.counts().GenerateDataKey).toBe(10);
  });

  it('does not cache a failed Decrypt: a bad blob asks KMS every time', async () => {
    // Prepare
    const userId = uniqueId('bad-blob');
    const sealed = await newCipher().seal(owner(userId), tokensFor(userId));
    const bad = { ...sealed, encryptedDataKey: withByteFlipped(sealed.encryptedDataKey, 10) };
    const reader = newCipher();
    kms.resetCounts();

    // Act
    const first = await errorFrom(reader.open(owner(userId), bad));
    const second = await errorFrom(reader.open(owner(userId), bad));
    const good = await reader.open(owner(userId), sealed);

    // Assess
    expect(first).toBeInstanceOf(UnreadableRecordError);
    expect(second).toBeInstanceOf(UnreadableRecordError);
    expect(good).toEqual(tokensFor(userId));
    expect(kms.counts().Decrypt).toBe(3);
  });

  it('does not cache a Decrypt that failed because KMS was down: the same record opens once KMS is back', async () => {
    // Prepare: a second stand-in sharing the key file, which we stop and restart on the same port.
    const keyFile = join(dir, 'kms-keys.json');
    let flaky = await startKmsServer({ keyFile });
    const port = flaky.port;
    const reader = new KmsEnvelopeCipher({ kms: kmsClientFor(flaky.url, 1), keyId: flaky.keyArn(DEFAULT_KEY_ID) });
    const userId = uniqueId('down');
    const sealed = await newCipher().seal(owner(userId), tokensFor(userId));
    await flaky.close();

    try {
      // Act
      const whileDown = await errorFrom(reader.open(owner(userId), sealed));
      flaky = await startKmsServer({ keyFile, port });
      const opened = await reader.open(owner(userId), sealed);
      const reopened = await reader.open(owner(userId), sealed);

      // Assess
      expect(whileDown).not.toBeInstanceOf(UnreadableRecordError); // an outage is not a bad record
      expect(opened).toEqual(tokensFor(userId));
      expect(reopened).toEqual(tokensFor(userId));
      expect(flaky.counts().Decrypt).toBe(1);
    } finally {
      await flaky.close().catch(() => undefined);
    }
  });
});

describe('KmsEnvelopeCipher: encryption context', () => {
  it('binds data keys to {purpose: zoom-token-vault}: Decrypt works only with that context', async () => {
    // Prepare
    const userId = uniqueId('ctx');
    const sealed = await newCipher().seal(owner(userId), tokensFor(userId, 'ctx-scope'));
    const decryptWith = (context: Record<string, string> | undefined) =>
      kmsClient.send(new DecryptCommand({ CiphertextBlob: sealed.encryptedDataKey, EncryptionContext: context }));

    // Act
    const wrongPurpose = await errorFrom(decryptWith({ purpose: 'something-else' }));
    const extraEntry = await errorFrom(decryptWith({ ...ENCRYPTION_CONTEXT, tenant: 'x' }));
    const noContext = await errorFrom(decryptWith(undefined));
    const right = await decryptWith({ ...ENCRYPTION_CONTEXT });

    // Assess
    expect(ENCRYPTION_CONTEXT).toEqual({ purpose: 'zoom-token-vault' });
    expect(wrongPurpose.name).toBe('InvalidCiphertextException');
    expect(extraEntry.name).toBe('InvalidCiphertextException');
    expect(noContext.name).toBe('InvalidCiphertextException');
    expect(right.Plaintext).toHaveLength(32);
    // The key KMS returns is the one that sealed the record, with its owner (user, registration,
    // token generation) bound as AAD: format 2, spelled out here.
    const ct = Buffer.from(sealed.ciphertext);
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(right.Plaintext!), Buffer.from(sealed.iv));
    expect(FORMAT_VERSION).toBe(2);
    decipher.setAAD(Buffer.from(`zoom-token-vault:v2:["${userId}","registration-${userId}",1]`, 'utf8'));
    decipher.setAuthTag(ct.subarray(ct.length - 16));
    const body = JSON.parse(Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]).toString('utf8'));
    expect(body).toEqual({ a: tokensFor(userId).accessToken, r: tokensFor(userId).refreshToken, s: 'ctx-scope' });
  });
});

describe('DynamoTokenStore: items and conditional writes', () => {
  let store: DynamoTokenStore;
  beforeAll(() => {
    store = new DynamoTokenStore({ client: ddb, tableName: TABLE_NAME });
  });

  it('creates a user and reads it back field for field', async () => {
    // Prepare
    const userId = uniqueId('create');
    const user = makeUser(userId, {
      lastRefreshAt: BASE_TIME - 5,
      lastError: { at: BASE_TIME - 4, code: 'http_503', message: 'upstream down' },
      lease: { owner: 'worker-1', expiresAt: BASE_TIME + 30_000 },
      recall: { status: 'registered', credentialId: 'cred-1', callbackKeyId: 'k1' },
      registeredGeneration: 1,
      refreshTokenFingerprints: ['fp-newest', 'fp-older'],
    });

    // Act
    await store.create(user);
    const read = await store.get(userId, { consistent: true });

    // Assess
    expect(read).toBeDefined();
    const { sealed, ...rest } = read!;
    const { sealed: expectedSealed, ...expectedRest } = user;
    expect(rest).toEqual(expectedRest);
    expect(plainSealed(sealedTokensOf({ sealed }))).toEqual(plainSealed(sealedTokensOf({ sealed: expectedSealed })));
    expect(await store.get(uniqueId('nobody'), { consistent: true })).toBeUndefined();
  });

  it('refuses to create a user that exists, leaving the item unchanged', async () => {
    // Prepare
    const userId = uniqueId('dup');
    await store.create(makeUser(userId));

    // Act
    const error = await errorFrom(store.create(makeUser(userId, { version: 9, tokenGeneration: 9 })));

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    const read = (await store.get(userId, { consistent: true }))!;
    expect(read.version).toBe(1);
    expect(read.tokenGeneration).toBe(1);
  });

  it('updates with the current version: bumps the version and returns the new item', async () => {
    // Prepare
    const userId = uniqueId('upd');
    await store.create(makeUser(userId));

    // Act
    const updated = await store.update(
      userId,
      { registrationId: `registration-${userId}`, version: 1 },
      { updatedAt: BASE_TIME + 10, lastRefreshAt: BASE_TIME + 9 },
    );
    const again = await store.update(userId, { registrationId: `registration-${userId}`, version: 2 }, { updatedAt: BASE_TIME + 20 });

    // Assess
    expect(updated.version).toBe(2);
    expect(updated.updatedAt).toBe(BASE_TIME + 10);
    expect(updated.lastRefreshAt).toBe(BASE_TIME + 9);
    expect(updated.createdAt).toBe(BASE_TIME);
    expect(updated.tokenGeneration).toBe(1);
    expect(again.version).toBe(3);
    expect(again.lastRefreshAt).toBe(BASE_TIME + 9);
    const read = (await store.get(userId, { consistent: true }))!;
    expect(read.version).toBe(3);
    expect(read.updatedAt).toBe(BASE_TIME + 20);
  });

  it('refuses an update with a stale version, leaving the item unchanged', async () => {
    // Prepare
    const userId = uniqueId('stale');
    await store.create(makeUser(userId));
    await store.update(userId, { registrationId: `registration-${userId}`, version: 1 }, { updatedAt: BASE_TIME + 1 });

    // Act
    const error = await errorFrom(
      store.update(userId, { registrationId: `registration-${userId}`, version: 1 }, { updatedAt: BASE_TIME + 99 }),
    );

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    const read = (await store.get(userId, { consistent: true }))!;
    expect(read.version).toBe(2);
    expect(read.updatedAt).toBe(BASE_TIME + 1);
  });

  it('updates conditional on tokenGeneration only while that generation is stored', async () => {
    // Prepare
    const userId = uniqueId('gen');
    await store.create(makeUser(userId, { tokenGeneration: 4 }));
    const newSealed = await newCipher().seal(owner(userId), tokensFor(userId));

    // Act
    const refreshed = await store.update(
      userId,
      { registrationId: `registration-${userId}`, tokenGeneration: 4 },
      { sealed: newSealed, tokenGeneration: 5, updatedAt: BASE_TIME + 5 },
    );
    const lost = await errorFrom(
      store.update(
        userId,
        { registrationId: `registration-${userId}`, tokenGeneration: 4 },
        { tokenGeneration: 5, updatedAt: BASE_TIME + 6 },
      ),
    );
    const next = await store.update(userId, { registrationId: `registration-${userId}`, tokenGeneration: 5 }, { updatedAt: BASE_TIME + 7 });

    // Assess
    expect(refreshed.tokenGeneration).toBe(5);
    expect(refreshed.version).toBe(2);
    expect(plainSealed(sealedTokensOf(refreshed))).toEqual(plainSealed(newSealed));
    expect(lost).toBeInstanceOf(ConflictError);
    expect(next.version).toBe(3);
    expect(next.updatedAt).toBe(BASE_TIME + 7);
    expect(await newCipher().open(owner(userId), sealedTokensOf(next))).toEqual(tokensFor(userId));
  });

  it('refuses to update a missing user, without creating it', async () => {
    // Prepare
    const userId = uniqueId('missing');

    // Act
    const byVersion = await errorFrom(
      store.update(userId, { registrationId: `registration-${userId}`, version: 1 }, { updatedAt: BASE_TIME }),
    );
    const byGeneration = await errorFrom(
      store.update(userId, { registrationId: `registration-${userId}`, tokenGeneration: 1 }, { updatedAt: BASE_TIME }),
    );

    // Assess
    expect(byVersion).toBeInstanceOf(ConflictError);
    expect(byGeneration).toBeInstanceOf(ConflictError);
    expect(await rawItem(userId)).toBeUndefined();
  });

  it('removes optional fields set to null (lease, lastError) and keeps the others', async () => {
    // Prepare
    const userId = uniqueId('nulls');
    await store.create(
      makeUser(userId, {
        lease: { owner: 'worker-7', expiresAt: BASE_TIME + 60_000 },
        lastError: { at: BASE_TIME, code: 'timeout', message: 'zoom timed out' },
        lastRefreshAt: BASE_TIME - 1,
      }),
    );
    const before = (await rawItem(userId))!;

    // Act
    const updated = await store.update(
      userId,
      { registrationId: `registration-${userId}`, version: 1 },
      { lease: null, lastError: null, updatedAt: BASE_TIME + 1 },
    );
    const after = (await rawItem(userId))!;

    // Assess
    expect(before.lease_owner).toEqual({ S: 'worker-7' });
    expect(before.last_error?.M?.code).toEqual({ S: 'timeout' });
    expect(updated.lease).toBeUndefined();
    expect(updated.lastError).toBeUndefined();
    expect(updated.lastRefreshAt).toBe(BASE_TIME - 1);
    expect(after).not.toHaveProperty('lease_owner');
    expect(after).not.toHaveProperty('lease_expires_at');
    expect(after).not.toHaveProperty('last_error');
    expect(after.last_refresh_at).toEqual({ N: String(BASE_TIME - 1) });
  });

  it('keeps refresh-token fingerprints as an ordered list, replaced whole by an update and removed by null', async () => {
    // Prepare
    const userId = uniqueId('fingerprints');
    await store.create(makeUser(userId, { registeredGeneration: 1, refreshTokenFingerprints: ['fp-b', 'fp-a'] }));

    // Act
    const updated = await store.update(
      userId,
      { registrationId: `registration-${userId}`, version: 1 },
      { refreshTokenFingerprints: ['fp-c', 'fp-b', 'fp-a'], registeredGeneration: 2 },
    );
    const raw = (await rawItem(userId))!;
    const removed = await store.update(
      userId,
      { registrationId: `registration-${userId}`, version: 2 },
      { refreshTokenFingerprints: null, registeredGeneration: null },
    );

    // Assess
    expect(updated.refreshTokenFingerprints).toEqual(['fp-c', 'fp-b', 'fp-a']);
    expect(updated.registeredGeneration).toBe(2);
    expect(raw.refresh_token_fingerprints).toEqual({ L: [{ S: 'fp-c' }, { S: 'fp-b' }, { S: 'fp-a' }] });
    expect(raw.registered_generation).toEqual({ N: '2' });
    expect(removed.refreshTokenFingerprints).toBeUndefined();
    expect(removed.registeredGeneration).toBeUndefined();
    expect(await rawItem(userId)).not.toHaveProperty('refresh_token_fingerprints');
  });

  it('deletes a user', async () => {
    // Prepare
    const userId = uniqueId('del');
    await store.create(makeUser(userId));
    expect(await store.get(userId, { consistent: true })).toBeDefined();

    // Act
    await store.delete(userId);

    // Assess
    expect(await store.get(userId, { consistent: true })).toBeUndefined();
    await expect(store.delete(userId)).resolves.toBeUndefined(); // deleting twice is harmless
    await store.create(makeUser(userId)); // and the id is free again
  });
});

describe('DynamoTokenStore: sparse sharded due index', () => {
  let store: DynamoTokenStore;
  beforeAll(() => {
    store = new DynamoTokenStore({ client: ddb, tableName: TABLE_NAME });
  });

  it('lists an active user only once its expiry is at or before the due time', async () => {
    // Prepare
    const prefix = uniqueId('due');
    const userId = `${prefix}-u`;
    const expiry = BASE_TIME + 7_200_000;
    await store.create(makeUser(userId, { accessTokenExpiresAt: expiry }));

    // Act
    const before = await dueUsers(store, expiry - 1, prefix);
    const atExpiry = await dueUsers(store, expiry, prefix);
    const after = await dueUsers(store, expiry + 60_000, prefix);

    // Assess
    expect(before.size).toBe(0);
    expect([...atExpiry]).toEqual([[userId, expiry]]);
    expect([...after]).toEqual([[userId, expiry]]);
    const item = (await rawItem(userId))!;
    expect(item.due_at).toEqual({ N: String(expiry) });
    expect(item.due_shard).toEqual({ S: store.shardOf(userId) });
  });

  it('drops a user needing re-authorization from the index, and takes it back with new tokens', async () => {
    // Prepare
    const prefix = uniqueId('reauth');
    const userId = `${prefix}-u`;
    const expiry = BASE_TIME + 1_000;
    await store.create(makeUser(userId, { accessTokenExpiresAt: expiry }));
    const listedAtFirst = await dueUsers(store, expiry, prefix);
    const note = { at: BASE_TIME + 2, code: 'invalid_grant', message: 'Invalid Token!' };

    // Act
    const dead = await store.update(
      userId,
      { registrationId: `registration-${userId}`, tokenGeneration: 1 },
      { status: 'reauth_required', reauthRequired: note, updatedAt: note.at },
    );
    const listedWhileDead = await dueUsers(store, Number.MAX_SAFE_INTEGER, prefix);
    const deadItem = (await rawItem(userId))!;
    const newExpiry = BASE_TIME + 9_000_000;
    const revived = await store.update(
      userId,
      { registrationId: dead.registrationId, version: dead.version },
      {
        status: 'active',
        accessTokenExpiresAt: newExpiry,
        tokenGeneration: 2,
        reauthRequired: null,
        updatedAt: BASE_TIME + 3,
      },
    );
    const listedBeforeNewExpiry = await dueUsers(store, newExpiry - 1, prefix);
    const listedAtNewExpiry = await dueUsers(store, newExpiry, prefix);

    // Assess
    expect([...listedAtFirst]).toEqual([[userId, expiry]]);
    expect(dead.status).toBe('reauth_required');
    expect(dead.reauthRequired).toEqual(note);
    expect(listedWhileDead.size).toBe(0);
    expect(deadItem).not.toHaveProperty('due_at');
    expect(deadItem).not.toHaveProperty('due_shard');
    expect(deadItem.access_expires_at).toEqual({ N: String(expiry) }); // the expiry itself is kept
    expect(revived.status).toBe('active');
    expect(revived.reauthRequired).toBeUndefined();
    expect(revived.accessTokenExpiresAt).toBe(newExpiry);
    expect(listedBeforeNewExpiry.size).toBe(0);
    expect([...listedAtNewExpiry]).toEqual([[userId, newExpiry]]);
  });

  it('leaves a user created as reauth_required out of the index', async () => {
    // Prepare
    const prefix = uniqueId('born-dead');
    const userId = `${prefix}-u`;

    // Act
    await store.create(makeUser(userId, { status: 'reauth_required', accessTokenExpiresAt: BASE_TIME }));

    // Assess
    expect((await dueUsers(store, Number.MAX_SAFE_INTEGER, prefix)).size).toBe(0);
    expect(await rawItem(userId)).not.toHaveProperty('due_shard');
    expect((await store.get(userId, { consistent: true }))!.status).toBe('reauth_required');
  });

  it('spreads 40 users over 4 shards and lists every due one across them', async () => {
    // Prepare
    const sharded = new DynamoTokenStore({ client: ddb, tableName: TABLE_NAME, dueShards: 4 });
    const prefix = uniqueId('shard');
    const users = Array.from({ length: 40 }, (_, i) => ({ userId: `${prefix}-${i}`, expiry: BASE_TIME + 1_000 * i }));
    await Promise.all(users.map((u) => sharded.create(makeUser(u.userId, { accessTokenExpiresAt: u.expiry }))));
    const dueTime = BASE_TIME + 1_000 * 24; // users 0..24 are due

    // Act
    const due = await dueUsers(sharded, dueTime, prefix);
    const all = await dueUsers(sharded, Number.MAX_SAFE_INTEGER, prefix);
    const items = await Promise.all(users.map((u) => rawItem(u.userId)));

    // Assess
    expect(new Map([...due].sort())).toEqual(
      new Map(
        users
          .slice(0, 25)
          .map((u) => [u.userId, u.expiry] as [string, number])
          .sort(),
      ),
    );
    expect(all.size).toBe(40);
    const shards = items.map((item) => item!.due_shard.S!);
    for (const [i, shard] of shards.entries()) {
      expect(['0', '1', '2', '3']).toContain(shard);
      expect(shard).toBe(sharded.shardOf(users[i].userId));
    }
    expect(new Set(shards).size).toBe(4); // 40 users do land in every shard
  });
});
