/**
 * What every TokenStore must do, as one suite run against each implementation: the DynamoDB
 * store on dynalite (test/integration/dynamo-store-contract.test.ts) and the in-memory store the
 * domain's unit tests use (test/unit/in-memory-store.test.ts). When they disagree, this decides.
 */
import { ConflictError } from '../../functions/domain/errors';
import type { DueUser, TokenStore } from '../../functions/domain/ports';
import { LEGACY_REGISTRATION_ID, sealedTokensOf, tokensRemoved, type StoredUser } from '../../functions/domain/token-record';

/** A write whose answer is lost after it was applied: the AWS SDK then sends the same request again. */
export interface LostAnswer {
  op: 'create' | 'update' | 'delete';
  /** Runs after the write landed and before it is sent again (another writer's turn). */
  between?: () => Promise<void>;
}

export interface StoreFixture {
  store: TokenStore;
  /** The next write of `lost.op` lands, its answer is lost, and it is sent again. */
  loseNextAnswer(lost: LostAnswer): void;
  /** Stores `user` as written before registration ids existed (no registration id attribute at all). */
  seedLegacy(user: StoredUser): Promise<void>;
  close?(): Promise<void>;
}

const T0 = 1_760_000_000_000;
/** sampleUser('u1')'s registration id. */
const R1 = 'registration-u1';
const HOUR = 3_600_000;

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));
const b64 = (text: string): string => Buffer.from(text).toString('base64');

/** A complete record with every optional field set, so removals and round trips are visible. */
export function sampleUser(userId: string, overrides: Partial<StoredUser> = {}): StoredUser {
  return {
    userId,
    registrationId: `registration-${userId}`,
    version: 1,
    status: 'active',
    sealed: { formatVersion: 1, encryptedDataKey: bytes(`edk-${userId}`), iv: bytes('iv-123456789'), ciphertext: bytes(`ct-${userId}`) },
    accessTokenExpiresAt: T0 + HOUR,
    tokenGeneration: 1,
    registeredGeneration: 1,
    refreshTokenFingerprints: ['fp-1', 'fp-0'],
    createdAt: T0,
    updatedAt: T0,
    lastRefreshAt: T0 - 1000,
    lastError: { at: T0 - 500, code: 'zoom_unavailable', message: 'http_503' },
    lease: { owner: 'worker-1', expiresAt: T0 + 30_000 },
    recall: {
      status: 'registered',
      credentialId: 'cred-1',
      callbackKeyId: 'k1',
      lastError: { at: T0 - 200, code: 'recall_503', message: 'x' },
    },
    ...overrides,
  };
}

/** Bytes as base64 and absent fields dropped: comparable whatever byte class or key layout a store returns. */
export function plain(user: StoredUser | undefined): unknown {
  if (!user) return user;
  const b64 = (value: Uint8Array) => Buffer.from(value).toString('base64');
  return JSON.parse(
    JSON.stringify({
      ...user,
      sealed: tokensRemoved(user.sealed)
        ? user.sealed
        : {
            formatVersion: user.sealed.formatVersion,
            encryptedDataKey: b64(user.sealed.encryptedDataKey),
            iv: b64(user.sealed.iv),
            ciphertext: b64(user.sealed.ciphertext),
          },
    }),
  );
}

async function listed(store: TokenStore, dueBefore: number): Promise<DueUser[]> {
  const out: DueUser[] = [];
  for await (const due of store.listDue(dueBefore)) out.push(due);
  return out.sort((a, b) => a.userId.localeCompare(b.userId));
}

export function describeTokenStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`TokenStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: TokenStore;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.close?.();
    });

    /** The record as a consistent read returns it; fails the test when it is gone. */
    async function stored(userId: string): Promise<StoredUser> {
      const user = await store.get(userId, { consistent: true });
      if (!user) throw new Error(`${userId} is not stored`);
      return user;
    }

    describe('create and get', () => {
      test('a created user reads back field for field, with consistent and default reads', async () => {
        // Prepare
        const user = sampleUser('u1');

        // Act
        await store.create(user);

        // Assess
        expect(plain(await store.get('u1', { consistent: true }))).toEqual(plain(user));
        expect(plain(await store.get('u1'))).toEqual(plain(user));
      });

      test('a minimal user (no optional field) reads back without them', async () => {
        // Prepare
        const {
          lease: _l,
          lastError: _e,
          lastRefreshAt: _r,
          registeredGeneration: _g,
          refreshTokenFingerprints: _f,
          ...rest
        } = sampleUser('u1');
        const minimal: StoredUser = { ...rest, recall: { status: 'pending' } };

        // Act
        await store.create(minimal);

        // Assess
        const read = await stored('u1');
        expect(plain(read)).toEqual(plain(minimal));
        expect(read.lease).toBeUndefined();
        expect(read.registeredGeneration).toBeUndefined();
      });

      test('an unknown user reads as undefined', async () => {
        // Act / Assess
        expect(await store.get('nobody', { consistent: true })).toBeUndefined();
      });

      test('creating a user that exists fails with ConflictError and leaves the stored one', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        const second = store.create(sampleUser('u1', { registrationId: 'other', tokenGeneration: 9 }));

        // Assess
        await expect(second).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ registrationId: 'registration-u1', tokenGeneration: 1, version: 1 });
      });
    });

    describe('update conditioned on the registration and its version', () => {
      test('applies when the version matches, adds one to it and returns the new item', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        const returned = await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          { updatedAt: T0 + 5, lease: { owner: 'worker-2', expiresAt: T0 + 60_000 } },
        );

        // Assess
        expect(returned).toMatchObject({ version: 2, updatedAt: T0 + 5, lease: { owner: 'worker-2', expiresAt: T0 + 60_000 } });
        expect(plain(await stored('u1'))).toEqual(plain(returned));
        // Untouched fields stay.
        expect(returned).toMatchObject({ tokenGeneration: 1, registrationId: 'registration-u1', recall: { credentialId: 'cred-1' } });
      });

      test('every write adds exactly one, whatever it sets', async () => {
        // Prepare
        await store.create(sampleUser('u1', { version: 7 }));

        // Act
        const a = await store.update('u1', { registrationId: R1, version: 7 }, {});
        const b = await store.update('u1', { registrationId: 'registration-u1', tokenGeneration: 1 }, { tokenGeneration: 2 });
        const c = await store.update('u1', { registrationId: R1, version: 9 }, { updatedAt: T0 + 1 });

        // Assess
        expect([a.version, b.version, c.version]).toEqual([8, 9, 10]);
      });

      test('a stale version fails with ConflictError and changes nothing', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        await store.update('u1', { registrationId: R1, version: 1 }, { updatedAt: T0 + 1 });

        // Act
        const stale = store.update('u1', { registrationId: R1, version: 1 }, { updatedAt: T0 + 2, lease: null });

        // Assess
        await expect(stale).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ version: 2, updatedAt: T0 + 1, lease: { owner: 'worker-1' } });
      });

      test('the same version in a new registration (deleted, then created again) fails with ConflictError', async () => {
        // Prepare: both registrations reach version 2.
        await store.create(sampleUser('u1', { registrationId: 'old' }));
        await store.update('u1', { registrationId: 'old', version: 1 }, { updatedAt: T0 + 1 });
        await store.delete('u1');
        await store.create(sampleUser('u1', { registrationId: 'new' }));
        await store.update('u1', { registrationId: 'new', version: 1 }, { updatedAt: T0 + 2 });

        // Act
        const old = store.update('u1', { registrationId: 'old', version: 2 }, { updatedAt: T0 + 3, lease: null });

        // Assess
        await expect(old).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ registrationId: 'new', version: 2, updatedAt: T0 + 2, lease: { owner: 'worker-1' } });
      });
    });

    describe('update conditioned on the lease, the grant and the Recall credential', () => {
      test("the lease owner's condition holds whatever its expiry and other writes; another owner's fails", async () => {
        // Prepare: worker-1 holds the lease; an unrelated write moves the version on.
        await store.create(sampleUser('u1'));
        await store.update('u1', { registrationId: R1, version: 1 }, { updatedAt: T0 + 1 });

        // Act
        const renewed = await store.update(
          'u1',
          { registrationId: R1, lease: { owner: 'worker-1' } },
          { lease: { owner: 'worker-1', expiresAt: T0 + 90_000 } },
        );
        const other = store.update('u1', { registrationId: R1, lease: { owner: 'worker-2' } }, { lease: null });

        // Assess
        expect(renewed.lease).toEqual({ owner: 'worker-1', expiresAt: T0 + 90_000 });
        await expect(other).rejects.toBeInstanceOf(ConflictError);
        expect((await stored('u1')).lease).toEqual({ owner: 'worker-1', expiresAt: T0 + 90_000 });
      });

      test('a lease as read (owner and expiry) fails once renewed; no lease (null) fails while one is held', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        await store.update(
          'u1',
          { registrationId: R1, lease: { owner: 'worker-1' } },
          { lease: { owner: 'worker-1', expiresAt: T0 + 60_000 } },
        );

        // Act
        const asRead = store.update('u1', { registrationId: R1, lease: { owner: 'worker-1', expiresAt: T0 + 30_000 } }, { lease: null });
        const none = store.update('u1', { registrationId: R1, lease: null }, { lease: { owner: 'worker-3', expiresAt: T0 } });
        await expect(asRead).rejects.toBeInstanceOf(ConflictError);
        await expect(none).rejects.toBeInstanceOf(ConflictError);
        const taken = await store.update(
          'u1',
          { registrationId: R1, lease: { owner: 'worker-1', expiresAt: T0 + 60_000 } },
          { lease: null },
        );
        const afresh = await store.update(
          'u1',
          { registrationId: R1, tokenGeneration: 1, lease: null },
          { lease: { owner: 'worker-3', expiresAt: T0 } },
        );

        // Assess
        expect(taken.lease).toBeUndefined();
        expect(afresh.lease).toEqual({ owner: 'worker-3', expiresAt: T0 });
      });

      test('the registered generation and the Recall credential (null: absent) must be the ones named', async () => {
        // Prepare
        await store.create(sampleUser('u1', { registeredGeneration: 3 }));
        const { registeredGeneration: _g, ...rest } = sampleUser('u2');
        await store.create({ ...rest, recall: { status: 'pending' } });

        // Act
        const wrongGrant = store.update('u1', { registrationId: R1, registeredGeneration: 2 }, { updatedAt: T0 + 1 });
        const wrongCredential = store.update('u1', { registrationId: R1, recallCredentialId: 'cred-2' }, { updatedAt: T0 + 1 });
        const noCredential = store.update('u1', { registrationId: R1, recallCredentialId: null }, { updatedAt: T0 + 1 });
        await expect(wrongGrant).rejects.toBeInstanceOf(ConflictError);
        await expect(wrongCredential).rejects.toBeInstanceOf(ConflictError);
        await expect(noCredential).rejects.toBeInstanceOf(ConflictError);
        const named = await store.update(
          'u1',
          { registrationId: R1, registeredGeneration: 3, recallCredentialId: 'cred-1' },
          { updatedAt: T0 + 2 },
        );
        const absent = await store.update(
          'u2',
          { registrationId: 'registration-u2', registeredGeneration: null, recallCredentialId: null },
          { updatedAt: T0 + 3 },
        );

        // Assess
        expect(named).toMatchObject({ version: 2, updatedAt: T0 + 2 });
        expect(absent).toMatchObject({ version: 2, updatedAt: T0 + 3 });
      });
    });

    describe('update conditioned on registration and token generation', () => {
      test('applies when both match, whatever the version meanwhile', async () => {
        // Prepare: unrelated writes moved the version on.
        await store.create(sampleUser('u1'));
        await store.update('u1', { registrationId: R1, version: 1 }, { lease: null });
        await store.update('u1', { registrationId: R1, version: 2 }, { updatedAt: T0 + 1 });

        // Act
        const returned = await store.update('u1', { registrationId: 'registration-u1', tokenGeneration: 1 }, { tokenGeneration: 2 });

        // Assess
        expect(returned).toMatchObject({ version: 4, tokenGeneration: 2 });
      });

      test('another token generation fails with ConflictError', async () => {
        // Prepare
        await store.create(sampleUser('u1', { tokenGeneration: 3 }));

        // Act
        const older = store.update('u1', { registrationId: 'registration-u1', tokenGeneration: 2 }, { tokenGeneration: 3 });

        // Assess
        await expect(older).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ version: 1, tokenGeneration: 3 });
      });

      test('another registration with the same generation fails with ConflictError', async () => {
        // Prepare: deleted and registered again: generation back at 1, a new registration id.
        await store.create(sampleUser('u1', { registrationId: 'old' }));
        await store.delete('u1');
        await store.create(sampleUser('u1', { registrationId: 'new' }));

        // Act
        const old = store.update('u1', { registrationId: 'old', tokenGeneration: 1 }, { tokenGeneration: 2 });

        // Assess
        await expect(old).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ registrationId: 'new', tokenGeneration: 1, version: 1 });
      });

      test('a legacy record (no registration id) reads as the legacy id and takes the legacy condition only', async () => {
        // Prepare
        await fixture.seedLegacy(sampleUser('u1'));

        // Act
        const read = await stored('u1');
        const named = store.update('u1', { registrationId: 'registration-u1', tokenGeneration: 1 }, { tokenGeneration: 2 });
        await expect(named).rejects.toBeInstanceOf(ConflictError);
        const legacy = await store.update('u1', { registrationId: LEGACY_REGISTRATION_ID, tokenGeneration: 1 }, { tokenGeneration: 2 });

        // Assess
        expect(read.registrationId).toBe(LEGACY_REGISTRATION_ID);
        expect(legacy).toMatchObject({ registrationId: LEGACY_REGISTRATION_ID, tokenGeneration: 2, version: 2 });
      });

      test('a record with a registration id refuses the legacy condition', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        const legacy = store.update('u1', { registrationId: LEGACY_REGISTRATION_ID, tokenGeneration: 1 }, { tokenGeneration: 2 });

        // Assess
        await expect(legacy).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ tokenGeneration: 1, version: 1 });
      });
    });

    describe('update of a missing item', () => {
      test.each([
        ['version', { registrationId: R1, version: 1 }],
        ['registration and generation', { registrationId: 'registration-u1', tokenGeneration: 1 }],
        ['legacy registration', { registrationId: LEGACY_REGISTRATION_ID, tokenGeneration: 1 }],
      ] as const)('fails with ConflictError (condition on %s) and creates nothing', async (_label, condition) => {
        // Act
        const attempt = store.update('u1', condition, { updatedAt: T0 });

        // Assess
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        expect(await store.get('u1', { consistent: true })).toBeUndefined();
      });

      test('fails with ConflictError after a delete', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        await store.delete('u1');

        // Act
        const attempt = store.update('u1', { registrationId: 'registration-u1', tokenGeneration: 1 }, { tokenGeneration: 2 });

        // Assess
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        expect(await store.get('u1', { consistent: true })).toBeUndefined();
      });
    });

    describe('field updates', () => {
      test('null removes an optional field; undefined leaves it', async () => {
        // Prepare
        await store.create(sampleUser('u1', { reauthRequired: { at: T0, code: 'invalid_grant', message: 'gone' } }));

        // Act
        const returned = await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          {
            lease: null,
            lastError: null,
            lastRefreshAt: null,
            registeredGeneration: null,
            refreshTokenFingerprints: null,
            reauthRequired: null,
            updatedAt: undefined,
          },
        );

        // Assess
        for (const user of [returned, await stored('u1')]) {
          expect(user.lease).toBeUndefined();
          expect(user.lastError).toBeUndefined();
          expect(user.lastRefreshAt).toBeUndefined();
          expect(user.registeredGeneration).toBeUndefined();
          expect(user.refreshTokenFingerprints).toBeUndefined();
          expect(user.reauthRequired).toBeUndefined();
          expect(user.updatedAt).toBe(T0);
          expect(user.recall.credentialId).toBe('cred-1');
        }
      });

      test('sealed tokens, notes and fingerprints are replaced as written', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        const sealed = { formatVersion: 1, encryptedDataKey: bytes('edk-2'), iv: bytes('iv-abcdefghi'), ciphertext: bytes('ct-2') };

        // Act
        await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          {
            sealed,
            refreshTokenFingerprints: ['fp-2', 'fp-1', 'fp-0'],
            lastError: { at: T0 + 9, code: 'refresh_setup_failed', message: 'KMSInternalException' },
          },
        );

        // Assess
        const user = await stored('u1');
        expect(plain(user)).toMatchObject({
          sealed: { formatVersion: 1, encryptedDataKey: b64('edk-2'), iv: b64('iv-abcdefghi'), ciphertext: b64('ct-2') },
          refreshTokenFingerprints: ['fp-2', 'fp-1', 'fp-0'],
          lastError: { at: T0 + 9, code: 'refresh_setup_failed', message: 'KMSInternalException' },
        });
      });

      test('the Recall state is replaced as a whole: what the new one lacks is gone', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          { recall: { status: 'failed', lastError: { at: T0, code: 'recall_503', message: 'down' } } },
        );

        // Assess
        const { recall } = await stored('u1');
        expect(recall.status).toBe('failed');
        expect(recall.credentialId).toBeUndefined();
        expect(recall.callbackKeyId).toBeUndefined();
        expect(recall.lastError).toEqual({ at: T0, code: 'recall_503', message: 'down' });
      });

      test('an access-token expiry written without a status is refused with a plain Error, before any write', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        const attempt = store.update('u1', { registrationId: R1, version: 1 }, { accessTokenExpiresAt: T0 + 2 * HOUR });
        const missing = store.update(
          'nobody',
          { registrationId: 'registration-nobody', version: 1 },
          { accessTokenExpiresAt: T0 + 2 * HOUR },
        );

        // Assess: a programming error, not a lost race (callers would retry a ConflictError).
        await expect(attempt).rejects.toThrow('must be written together with status active');
        await expect(attempt).rejects.not.toBeInstanceOf(ConflictError);
        await expect(missing).rejects.not.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ version: 1, accessTokenExpiresAt: T0 + HOUR });
        expect(await listed(store, T0 + 3 * HOUR)).toEqual([{ userId: 'u1', dueAt: T0 + HOUR }]);
      });
    });

    describe('the due index', () => {
      test('is sparse: an active user is in it at its expiry, one needing re-authorization is not', async () => {
        // Prepare
        await store.create(sampleUser('active', { accessTokenExpiresAt: T0 + HOUR }));
        await store.create(sampleUser('dead', { status: 'reauth_required', accessTokenExpiresAt: T0 + HOUR }));

        // Act
        const due = await listed(store, T0 + 10 * HOUR);

        // Assess
        expect(due).toEqual([{ userId: 'active', dueAt: T0 + HOUR }]);
      });

      test('the bound is inclusive', async () => {
        // Prepare
        await store.create(sampleUser('at', { accessTokenExpiresAt: T0 + 1000 }));
        await store.create(sampleUser('after', { accessTokenExpiresAt: T0 + 1001 }));
        await store.create(sampleUser('before', { accessTokenExpiresAt: T0 + 999 }));

        // Act
        const due = await listed(store, T0 + 1000);

        // Assess
        expect(due.map((entry) => entry.userId)).toEqual(['at', 'before']);
        expect(await listed(store, T0 + 998)).toEqual([]);
      });

      test('lists every due user, however the index spreads them (shards)', async () => {
        // Prepare: enough users to land in every shard of the Dynamo index; half of them due.
        const ids = Array.from({ length: 40 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
        for (const [i, userId] of ids.entries()) {
          await store.create(sampleUser(userId, { accessTokenExpiresAt: i % 2 === 0 ? T0 + i * 1000 : T0 + 5 * HOUR + i }));
        }

        // Act
        const due = await listed(store, T0 + HOUR);

        // Assess
        expect(due).toEqual(ids.filter((_, i) => i % 2 === 0).map((userId) => ({ userId, dueAt: T0 + ids.indexOf(userId) * 1000 })));
      });

      test('yields due users in due-time order, the most overdue first, across shards', async () => {
        // Prepare: 40 users whose due times run against the order of their ids (so against any
        // order by key or by shard), every one due.
        const ids = Array.from({ length: 40 }, (_, i) => `order-${String(i).padStart(2, '0')}`);
        for (const [i, userId] of ids.entries()) await store.create(sampleUser(userId, { accessTokenExpiresAt: T0 + (40 - i) * 1000 }));

        // Act: in the order listDue yields them, unsorted.
        const yielded: DueUser[] = [];
        for await (const due of store.listDue(T0 + HOUR)) yielded.push(due);

        // Assess
        expect(yielded.map((entry) => entry.userId)).toEqual([...ids].reverse());
        expect(yielded.map((entry) => entry.dueAt)).toEqual(ids.map((_, i) => T0 + (i + 1) * 1000));
      });

      test('status reauth_required takes the user out; active with a new expiry puts it back there', async () => {
        // Prepare
        await store.create(sampleUser('u1', { accessTokenExpiresAt: T0 + 1000 }));

        // Act
        await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          { status: 'reauth_required', reauthRequired: { at: T0, code: 'invalid_grant', message: 'x' } },
        );
        const whileDead = await listed(store, T0 + 10 * HOUR);
        await store.update(
          'u1',
          { registrationId: R1, version: 2 },
          { status: 'active', accessTokenExpiresAt: T0 + 2 * HOUR, reauthRequired: null },
        );
        const afterReauth = await listed(store, T0 + 10 * HOUR);

        // Assess
        expect(whileDead).toEqual([]);
        expect(afterReauth).toEqual([{ userId: 'u1', dueAt: T0 + 2 * HOUR }]);
        expect(await stored('u1')).toMatchObject({ status: 'active', accessTokenExpiresAt: T0 + 2 * HOUR, version: 3 });
      });

      test('a refresh (active with a new expiry) moves the user later in the index', async () => {
        // Prepare
        await store.create(sampleUser('u1', { accessTokenExpiresAt: T0 + 1000 }));

        // Act
        await store.update(
          'u1',
          { registrationId: 'registration-u1', tokenGeneration: 1 },
          {
            status: 'active',
            accessTokenExpiresAt: T0 + HOUR,
            tokenGeneration: 2,
          },
        );

        // Assess
        expect(await listed(store, T0 + 1000)).toEqual([]);
        expect(await listed(store, T0 + HOUR)).toEqual([{ userId: 'u1', dueAt: T0 + HOUR }]);
      });

      test('writes touching neither status nor expiry leave the entry where it was', async () => {
        // Prepare
        await store.create(sampleUser('u1', { accessTokenExpiresAt: T0 + 1000 }));

        // Act
        await store.update(
          'u1',
          { registrationId: R1, version: 1 },
          { lease: { owner: 'w', expiresAt: T0 + 5 }, recall: { status: 'pending' } },
        );

        // Assess
        expect(await listed(store, T0 + 1000)).toEqual([{ userId: 'u1', dueAt: T0 + 1000 }]);
      });

      // Current behaviour, pinned so both stores keep agreeing: only status active WITH an expiry
      // (re)enters the index. The domain always writes the two together.
      test('status active without an expiry does not bring a reauth_required user back', async () => {
        // Prepare
        await store.create(sampleUser('u1', { status: 'reauth_required' }));

        // Act
        await store.update('u1', { registrationId: R1, version: 1 }, { status: 'active' });

        // Assess
        expect(await listed(store, T0 + 10 * HOUR)).toEqual([]);
        expect((await stored('u1')).status).toBe('active');
      });

      test('a deleted user leaves the index', async () => {
        // Prepare
        await store.create(sampleUser('u1', { accessTokenExpiresAt: T0 + 1000 }));
        await store.create(sampleUser('u2', { accessTokenExpiresAt: T0 + 2000 }));

        // Act
        await store.delete('u1');

        // Assess
        expect(await listed(store, T0 + HOUR)).toEqual([{ userId: 'u2', dueAt: T0 + 2000 }]);
      });
    });

    describe('delete', () => {
      test('removes the item; deleting a missing one is no error; the id can be created again', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        await store.delete('u1');
        await store.delete('u1');
        await store.delete('never-there');
        const afterDelete = await store.get('u1', { consistent: true });
        await store.create(sampleUser('u1', { registrationId: 'second' }));

        // Assess
        expect(afterDelete).toBeUndefined();
        expect(await stored('u1')).toMatchObject({ registrationId: 'second', version: 1 });
      });

      test('a conditional delete removes the named registration only; a missing item is no error', async () => {
        // Prepare
        await store.create(sampleUser('u1'));

        // Act
        const other = store.delete('u1', { registrationId: 'other', recallCredentialId: 'cred-1' });
        await expect(other).rejects.toBeInstanceOf(ConflictError);
        const kept = await stored('u1');
        await store.delete('u1', { registrationId: R1, recallCredentialId: 'cred-1' });
        await store.delete('u1', { registrationId: R1, recallCredentialId: 'cred-1' });

        // Assess
        expect(kept.registrationId).toBe(R1);
        expect(await store.get('u1', { consistent: true })).toBeUndefined();
      });
    });

    describe('a write sent again after its answer was lost', () => {
      test('an update whose condition its own landing broke returns the item as written, applied once', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        fixture.loseNextAnswer({ op: 'update' });

        // Act
        const returned = await store.update(
          'u1',
          { registrationId: R1, version: 1, tokenGeneration: 1 },
          { tokenGeneration: 2, updatedAt: T0 + 5 },
        );

        // Assess
        expect(returned).toMatchObject({ version: 2, tokenGeneration: 2, updatedAt: T0 + 5 });
        expect(plain(await stored('u1'))).toEqual(plain(returned));
      });

      test('a create meeting its own item is no conflict', async () => {
        // Prepare
        fixture.loseNextAnswer({ op: 'create' });

        // Act
        await store.create(sampleUser('u1'));

        // Assess
        expect(await stored('u1')).toMatchObject({ registrationId: R1, version: 1 });
      });

      test('a delete is one delete', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        fixture.loseNextAnswer({ op: 'delete' });

        // Act
        await store.delete('u1', { registrationId: R1 });

        // Assess
        expect(await store.get('u1', { consistent: true })).toBeUndefined();
      });

      test("another writer's write in between: ConflictError, and the other write stays", async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        fixture.loseNextAnswer({
          op: 'update',
          between: async () => void (await store.update('u1', { registrationId: R1, version: 2 }, { updatedAt: T0 + 9 })),
        });

        // Act
        const attempt = store.update('u1', { registrationId: R1, version: 1 }, { updatedAt: T0 + 5 });

        // Assess
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ version: 3, updatedAt: T0 + 9 });
      });

      test('a create meeting an item created by another writer in between: ConflictError', async () => {
        // Prepare: ours lands, is deleted, and another registration is created before the re-send.
        fixture.loseNextAnswer({
          op: 'create',
          between: async () => {
            await store.delete('u1');
            await store.create(sampleUser('u1', { registrationId: 'other' }));
          },
        });

        // Act
        const attempt = store.create(sampleUser('u1'));

        // Assess
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        expect(await stored('u1')).toMatchObject({ registrationId: 'other' });
      });
    });

    describe('isolation: callers never share objects with the stored state', () => {
      test('changing the created object, or a read one, changes nothing stored', async () => {
        // Prepare
        const user = sampleUser('u1');
        await store.create(user);
        const before = plain(await stored('u1'));

        // Act
        user.tokenGeneration = 99;
        user.recall.credentialId = 'changed';
        user.refreshTokenFingerprints!.push('fp-x');
        sealedTokensOf(user).ciphertext[0] ^= 0xff;
        const read = await stored('u1');
        read.lease!.owner = 'changed';
        sealedTokensOf(read).iv[0] ^= 0xff;
        read.refreshTokenFingerprints!.length = 0;

        // Assess
        expect(plain(await stored('u1'))).toEqual(before);
      });

      test('changing an update argument after the call, or the returned item, changes nothing stored', async () => {
        // Prepare
        await store.create(sampleUser('u1'));
        const update = { lease: { owner: 'w2', expiresAt: T0 + 1 }, refreshTokenFingerprints: ['a', 'b'] };

        // Act
        const returned = await store.update('u1', { registrationId: R1, version: 1 }, update);
        const afterWrite = plain(await stored('u1'));
        update.lease.owner = 'changed';
        update.refreshTokenFingerprints.push('c');
        returned.recall.status = 'failed';
        sealedTokensOf(returned).encryptedDataKey[0] ^= 0xff;

        // Assess
        expect(plain(await stored('u1'))).toEqual(afterWrite);
        expect(afterWrite).toMatchObject({ lease: { owner: 'w2' }, refreshTokenFingerprints: ['a', 'b'] });
      });
    });
  });
}
