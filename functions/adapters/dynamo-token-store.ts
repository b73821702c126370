/**
 * The token table on DynamoDB. One item per user, keyed by `user_id`; every write is
 * conditional (optimistic locking on `version`, or on the token generation a refresh consumed).
 *
 * The sparse due index: an item carries `due_shard` and `due_at` (the access token's expiry)
 * only while its status is `active`, so users needing re-authorization, and deleted users, are
 * not in the index. The shard spreads the index over several partitions; the dispatcher queries
 * every shard for the due window only, merging them in due-time order.
 */
import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ConflictError } from '../domain/errors';
import type { DueUser, SealedTokens, TokenStore } from '../domain/ports';
import { LEGACY_REGISTRATION_ID, type ErrorNote, type StoredUser, type UserUpdate, type WriteCondition } from '../domain/token-record';

export interface DynamoTokenStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  dueIndexName?: string;
  /** Number of due-index shards. Raise it only: items keep the shard they were written with. */
  dueShards?: number;
}

type Item = Record<string, AttributeValue>;

const num = (value: number): AttributeValue => ({ N: String(value) });
const str = (value: string): AttributeValue => ({ S: value });
const readNum = (value: AttributeValue | undefined): number | undefined => (value?.N === undefined ? undefined : Number(value.N));

function noteToAttribute(note: ErrorNote): AttributeValue {
  return { M: { at: num(note.at), code: str(note.code), message: str(note.message) } };
}

function noteFromAttribute(value: AttributeValue | undefined): ErrorNote | undefined {
  if (!value?.M) return undefined;
  return { at: readNum(value.M.at) ?? 0, code: value.M.code?.S ?? '', message: value.M.message?.S ?? '' };
}

/** Attribute names of each field in an update; `sealed` and `recall` spread over several. */
function fieldAttributes(update: UserUpdate): Array<[string, AttributeValue | null]> {
  const out: Array<[string, AttributeValue | null]> = [];
  const put = (name: string, value: AttributeValue | null) => out.push([name, value]);
  for (const [field, value] of Object.entries(update) as Array<[keyof UserUpdate, unknown]>) {
    if (value === undefined) continue;
    switch (field) {
      case 'status':
        put('status', str(value as string));
        break;
      case 'sealed': {
        const sealed = value as SealedTokens;
        put('fmt', num(sealed.formatVersion));
        put('edk', { B: sealed.encryptedDataKey });
        put('iv', { B: sealed.iv });
        put('ct', { B: sealed.ciphertext });
        break;
      }
      case 'accessTokenExpiresAt':
        put('access_expires_at', num(value as number));
        break;
      case 'tokenGeneration':
        put('token_generation', num(value as number));
        break;
      case 'registeredGeneration':
        put('registered_generation', value === null ? null : num(value as number));
        break;
      case 'refreshTokenFingerprints':
        // A list, not a string set: the order (newest first) is kept.
        put('refresh_token_fingerprints', value === null ? null : { L: (value as string[]).map(str) });
        break;
      case 'updatedAt':
        put('updated_at', num(value as number));
        break;
      case 'lastRefreshAt':
        put('last_refresh_at', value === null ? null : num(value as number));
        break;
      case 'lastError':
        put('last_error', value === null ? null : noteToAttribute(value as ErrorNote));
        break;
      case 'reauthRequired':
        put('reauth', value === null ? null : noteToAttribute(value as ErrorNote));
        break;
      case 'lease': {
        const lease = value as StoredUser['lease'] | null;
        put('lease_owner', lease ? str(lease.owner) : null);
        put('lease_expires_at', lease ? num(lease.expiresAt) : null);
        break;
      }
      case 'recall': {
        const recall = value as StoredUser['recall'];
        put('recall_status', str(recall.status));
        put('recall_credential_id', recall.credentialId ? str(recall.credentialId) : null);
        put('recall_callback_kid', recall.callbackKeyId ? str(recall.callbackKeyId) : null);
        put('recall_last_error', recall.lastError ? noteToAttribute(recall.lastError) : null);
        break;
      }
      default: {
        const unknownField: never = field;
        throw new Error(`unmapped field ${String(unknownField)}`);
      }
    }
  }
  return out;
}

export function toUser(item: Item): StoredUser {
  const user: StoredUser = {
    userId: item.user_id.S!,
    registrationId: item.registration_id?.S ?? LEGACY_REGISTRATION_ID,
    version: readNum(item.version)!,
    status: item.status.S as StoredUser['status'],
    sealed: {
      formatVersion: readNum(item.fmt)!,
      encryptedDataKey: item.edk.B!,
      iv: item.iv.B!,
      ciphertext: item.ct.B!,
    },
    accessTokenExpiresAt: readNum(item.access_expires_at)!,
    tokenGeneration: readNum(item.token_generation)!,
    registeredGeneration: readNum(item.registered_generation),
    refreshTokenFingerprints: item.refresh_token_fingerprints?.L?.map((fingerprint) => fingerprint.S!),
    createdAt: readNum(item.created_at)!,
    updatedAt: readNum(item.updated_at)!,
    recall: {
      status: (item.recall_status?.S ?? 'pending') as StoredUser['recall']['status'],
      credentialId: item.recall_credential_id?.S,
      callbackKeyId: item.recall_callback_kid?.S,
      lastError: noteFromAttribute(item.recall_last_error),
    },
    lastRefreshAt: readNum(item.last_refresh_at),
    lastError: noteFromAttribute(item.last_error),
    reauthRequired: noteFromAttribute(item.reauth),
  };
  if (item.lease_owner?.S) user.lease = { owner: item.lease_owner.S, expiresAt: readNum(item.lease_expires_at) ?? 0 };
  return user;
}

export class DynamoTokenStore implements TokenStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly dueIndexName: string;
  private readonly dueShards: number;

  constructor(options: DynamoTokenStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.dueIndexName = options.dueIndexName ?? 'due-index';
    this.dueShards = options.dueShards ?? 8;
  }

  /** The due-index shard of a user: stable, spread evenly by a hash of the id. */
  shardOf(userId: string): string {
    return String(createHash('sha256').update(userId).digest().readUInt32BE(0) % this.dueShards);
  }

  async get(userId: string, options: { consistent?: boolean } = {}): Promise<StoredUser | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { user_id: str(userId) }, ConsistentRead: options.consistent ?? false }),
    );
    return answer.Item ? toUser(answer.Item) : undefined;
  }

  async create(user: StoredUser): Promise<void> {
    const item: Item = {
      user_id: str(user.userId),
      registration_id: str(user.registrationId),
      version: num(user.version),
      created_at: num(user.createdAt),
    };
    const { userId: _userId, registrationId: _registrationId, version: _version, createdAt: _createdAt, ...fields } = user;
    for (const [name, value] of this.withDueAttributes(user.userId, fields)) if (value) item[name] = value;
    try {
      await this.client.send(
        new PutItemCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(user_id)' }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('user already exists');
      throw error;
    }
  }

  async update(userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser> {
    const names: Record<string, string> = { '#version': 'version' };
    const values: Item = { ':one': num(1) };
    const sets = ['#version = #version + :one'];
    const removes: string[] = [];
    for (const [name, value] of this.withDueAttributes(userId, update)) {
      names[`#${name}`] = name;
      if (value === null) removes.push(`#${name}`);
      else {
        values[`:${name}`] = value;
        sets.push(`#${name} = :${name}`);
      }
    }
    let conditionExpression: string;
    if ('version' in condition) {
      conditionExpression = '#version = :expected';
      values[':expected'] = num(condition.version);
    } else {
      names['#token_generation'] = 'token_generation';
      names['#registration_id'] = 'registration_id';
      values[':expected'] = num(condition.tokenGeneration);
      const sameRegistration =
        condition.registrationId === LEGACY_REGISTRATION_ID ? 'attribute_not_exists(#registration_id)' : '#registration_id = :registration';
      if (condition.registrationId !== LEGACY_REGISTRATION_ID) values[':registration'] = str(condition.registrationId);
      conditionExpression = `#token_generation = :expected AND ${sameRegistration}`;
    }
    try {
      const answer = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { user_id: str(userId) },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditionExpression,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toUser(answer.Attributes!);
    } catch (error) {
      // Also what a missing item answers: the condition cannot hold. Callers re-read.
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('stored item changed');
      throw error;
    }
  }

  async delete(userId: string): Promise<void> {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: { user_id: str(userId) } }));
  }

  /**
   * Every shard's due users merged in due-time order (ties by user id): the most overdue first,
   * whatever shard it lives in. Each shard is queried lazily, a page at a time, when the merge
   * has used up what it read of that shard.
   */
  async *listDue(dueBefore: number): AsyncIterable<DueUser> {
    const shards = Array.from({ length: this.dueShards }, (_, shard) => this.dueInShard(String(shard), dueBefore));
    const heads = await Promise.all(shards.map((shard) => shard.next()));
    for (;;) {
      let earliest = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head.done) continue;
        const best = earliest < 0 ? undefined : (heads[earliest] as IteratorYieldResult<DueUser>).value;
        if (!best || head.value.dueAt < best.dueAt || (head.value.dueAt === best.dueAt && head.value.userId < best.userId)) earliest = i;
      }
      if (earliest < 0) return;
      yield (heads[earliest] as IteratorYieldResult<DueUser>).value;
      heads[earliest] = await shards[earliest].next();
    }
  }

  /** One shard's due users in due-time order (the index's sort key), one query page at a time. */
  private async *dueInShard(shard: string, dueBefore: number): AsyncGenerator<DueUser> {
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: this.dueIndexName,
          KeyConditionExpression: 'due_shard = :shard AND due_at <= :due',
          ExpressionAttributeValues: { ':shard': str(shard), ':due': num(dueBefore) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) yield { userId: item.user_id.S!, dueAt: readNum(item.due_at)! };
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  /**
   * Field attributes plus the due-index attributes they imply: a user needing re-authorization
   * leaves the index; a new access-token expiry, always written with status active, moves the
   * user in it.
   */
  private withDueAttributes(userId: string, update: UserUpdate): Array<[string, AttributeValue | null]> {
    const attributes = fieldAttributes(update);
    if (update.status === 'reauth_required') {
      attributes.push(['due_shard', null], ['due_at', null]);
    } else if (update.status === 'active' && typeof update.accessTokenExpiresAt === 'number') {
      attributes.push(['due_shard', str(this.shardOf(userId))], ['due_at', num(update.accessTokenExpiresAt)]);
    } else if (update.accessTokenExpiresAt !== undefined) {
      // Without the status the index could take back a user who needs re-authorization.
      throw new Error('a new access-token expiry must be written together with status active');
    }
    return attributes;
  }
}
