/**
 * The token table's item for one user: every field of a StoredUser and the attributes it is
 * written to and read from, in one table (./dynamo-token-reader.ts reads items with it,
 * ./dynamo-token-store.ts also writes them).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMA } from '../contract';
import {
  LEGACY_REGISTRATION_ID,
  tokensRemoved,
  type ErrorNote,
  type StoredTokens,
  type StoredUser,
  type UserUpdate,
} from '../domain/token-record';

export type Item = Record<string, AttributeValue>;

export const num = (value: number): AttributeValue => ({ N: String(value) });
export const str = (value: string): AttributeValue => ({ S: value });
export const readNum = (value: AttributeValue | undefined): number | undefined => (value?.N === undefined ? undefined : Number(value.N));

function noteToAttribute(note: ErrorNote): AttributeValue {
  return { M: { at: num(note.at), code: str(note.code), message: str(note.message) } };
}

function noteFromAttribute(value: AttributeValue | undefined): ErrorNote | undefined {
  if (!value?.M) return undefined;
  return { at: readNum(value.M.at) ?? 0, code: value.M.code?.S ?? '', message: value.M.message?.S ?? '' };
}

/** How one field of a StoredUser is written to, and read from, the item's attributes. */
export interface Codec<V> {
  write(value: V): Array<[string, AttributeValue | null]>;
  read(item: Item): V | undefined;
}

/** A field kept in one attribute; `null` (or undefined for optional fields) removes it. */
function single<V>(name: string, encode: (value: V) => AttributeValue, decode: (value: AttributeValue) => V | undefined): Codec<V> {
  return {
    write: (value) => [[name, value === null || value === undefined ? null : encode(value)]],
    read: (item) => (item[name] === undefined ? undefined : decode(item[name])),
  };
}

const numberAttribute = (name: string) => single<number>(name, num, (value) => readNum(value));
const stringAttribute = <V extends string>(name: string) => single<V>(name, str, (value) => value.S as V | undefined);
const noteAttribute = (name: string) => single<ErrorNote>(name, noteToAttribute, (value) => noteFromAttribute(value));

/**
 * Every field of the stored record and its attributes, in one table: the write path (updates)
 * and the read path (items) both go through it, and the mapped type makes the compiler check
 * that no field is forgotten on either.
 */
export const ATTRIBUTES: { [K in keyof StoredUser]-?: Codec<StoredUser[K]> } = {
  userId: stringAttribute('user_id'),
  registrationId: {
    write: (value) => [['registration_id', str(value)]],
    read: (item) => item.registration_id?.S ?? LEGACY_REGISTRATION_ID,
  },
  version: numberAttribute('version'),
  status: stringAttribute<StoredUser['status']>('status'),
  // Sealed tokens, or the tombstone left when they were removed: never both on one item.
  sealed: {
    write: (sealed) =>
      tokensRemoved(sealed)
        ? [
            ['fmt', null],
            ['edk', null],
            ['iv', null],
            ['ct', null],
            ['tokens_removed_at', num(sealed.removedAt)],
            ['tokens_removed_reason', str(sealed.reason)],
          ]
        : [
            ['fmt', num(sealed.formatVersion)],
            ['edk', { B: sealed.encryptedDataKey }],
            ['iv', { B: sealed.iv }],
            ['ct', { B: sealed.ciphertext }],
            ['tokens_removed_at', null],
            ['tokens_removed_reason', null],
          ],
    read: (item): StoredTokens =>
      item.ct?.B
        ? { formatVersion: readNum(item.fmt)!, encryptedDataKey: item.edk.B!, iv: item.iv.B!, ciphertext: item.ct.B }
        : { removedAt: readNum(item.tokens_removed_at) ?? 0, reason: 'zoom_deauthorized' },
  },
  accessTokenExpiresAt: numberAttribute('access_expires_at'),
  tokenGeneration: numberAttribute('token_generation'),
  registeredGeneration: numberAttribute('registered_generation'),
  // A list, not a string set: the order (newest first) is kept.
  refreshTokenFingerprints: single<string[]>(
    'refresh_token_fingerprints',
    (list) => ({ L: list.map(str) }),
    (value) => value.L?.map((entry) => entry.S!),
  ),
  grantedAt: numberAttribute('granted_at'),
  createdAt: numberAttribute('created_at'),
  updatedAt: numberAttribute('updated_at'),
  lastRefreshAt: numberAttribute('last_refresh_at'),
  lastServedAt: numberAttribute('last_served_at'),
  refreshDueAt: numberAttribute('refresh_due_at'),
  lastError: noteAttribute('last_error'),
  reauthRequired: noteAttribute('reauth'),
  lease: {
    write: (lease) => [
      ['lease_owner', lease ? str(lease.owner) : null],
      ['lease_expires_at', lease ? num(lease.expiresAt) : null],
    ],
    read: (item) => (item.lease_owner?.S ? { owner: item.lease_owner.S, expiresAt: readNum(item.lease_expires_at) ?? 0 } : undefined),
  },
  recall: {
    write: (recall) => [
      ['recall_status', str(recall.status)],
      ['recall_credential_id', recall.credentialId ? str(recall.credentialId) : null],
      ['recall_callback_kid', recall.callbackKeyId ? str(recall.callbackKeyId) : null],
      ['recall_last_error', recall.lastError ? noteToAttribute(recall.lastError) : null],
    ],
    read: (item) => ({
      status: (item.recall_status?.S ?? 'pending') as StoredUser['recall']['status'],
      credentialId: item.recall_credential_id?.S,
      callbackKeyId: item.recall_callback_kid?.S,
      lastError: noteFromAttribute(item.recall_last_error),
    }),
  },
  // The zoom-user index's partition key: Zoom's deauthorization events name the Zoom user.
  zoomUserId: stringAttribute(TABLE_SCHEMA.zoomUserIndex.partitionKey.name),
  zoomAccountId: stringAttribute('zoom_account_id'),
};

/** The attributes an update writes (`null`: remove). */
export function fieldAttributes(update: UserUpdate): Array<[string, AttributeValue | null]> {
  const out: Array<[string, AttributeValue | null]> = [];
  for (const [field, value] of Object.entries(update) as Array<[keyof UserUpdate, unknown]>) {
    if (value !== undefined) out.push(...(ATTRIBUTES[field] as Codec<unknown>).write(value));
  }
  return out;
}

const FIELDS = Object.entries(ATTRIBUTES) as Array<[keyof StoredUser, Codec<unknown>]>;

export function toUser(item: Item): StoredUser {
  const user: Record<string, unknown> = {};
  for (const [field, codec] of FIELDS) {
    const value = codec.read(item);
    if (value !== undefined) user[field] = value;
  }
  return user as unknown as StoredUser;
}
