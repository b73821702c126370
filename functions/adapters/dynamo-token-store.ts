/**
 * The token table on DynamoDB. One item per user, keyed by `user_id`; every write is
 * conditional on the identities it acts for (the registration, always; the token generation,
 * the lease owner, the Recall credential, or the version within the registration), and carries
 * a fresh `write_id`: when the SDK sends a write again after losing its answer and the retry
 * fails its condition, the item is looked at (ReturnValuesOnConditionCheckFailure, or a
 * consistent read where that is not returned) and a `write_id` of its own means it landed.
 *
 * The sparse due index: an item carries `due_shard` and `due_at` (the access token's expiry)
 * only while its status is `active`, so users needing re-authorization, and deleted users, are
 * not in the index. The shard spreads the index over several partitions; the dispatcher queries
 * every shard for the due window only, merging them in due-time order.
 *
 * Reads by key come from ./dynamo-token-reader.ts, items from ./dynamo-item.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMA } from '../contract';
import { ConflictError } from '../domain/errors';
import type { DueUser, TokenStore } from '../domain/ports';
import { LEGACY_REGISTRATION_ID, type StoredUser, type UserUpdate, type WriteCondition } from '../domain/token-record';
import { ATTRIBUTES, type Codec, fieldAttributes, type Item, num, readNum, str, toUser } from './dynamo-item';
import { DynamoTokenReader, type DynamoTokenReaderOptions } from './dynamo-token-reader';

export { toUser } from './dynamo-item';

export interface DynamoTokenStoreOptions extends DynamoTokenReaderOptions {
  dueIndexName?: string;
  /** Number of due-index shards. Raise it only: items keep the shard they were written with. */
  dueShards?: number;
}

/** The attribute holding the marker of the item's latest write. */
const WRITE_ID = 'write_id';

/**
 * The condition expression of `condition`: the item exists and every identity given holds
 * (`null`: the attribute is absent). Placeholders are added to `names` and `values`.
 */
function conditionExpression(condition: WriteCondition, names: Record<string, string>, values: Item): string {
  names['#user_id'] = 'user_id';
  const parts = ['attribute_exists(#user_id)'];
  const holds = (attribute: string, value: AttributeValue | null) => {
    names[`#${attribute}`] = attribute;
    if (value === null) return void parts.push(`attribute_not_exists(#${attribute})`);
    values[`:if_${attribute}`] = value;
    parts.push(`#${attribute} = :if_${attribute}`);
  };
  const { registrationId, version, tokenGeneration, registeredGeneration, lease, recallCredentialId } = condition;
  holds('registration_id', registrationId === LEGACY_REGISTRATION_ID ? null : str(registrationId));
  if (version !== undefined) holds('version', num(version));
  if (tokenGeneration !== undefined) holds('token_generation', num(tokenGeneration));
  if (registeredGeneration !== undefined) holds('registered_generation', registeredGeneration === null ? null : num(registeredGeneration));
  if (lease !== undefined) holds('lease_owner', lease === null ? null : str(lease.owner));
  if (lease?.expiresAt !== undefined) holds('lease_expires_at', num(lease.expiresAt));
  if (recallCredentialId !== undefined) holds('recall_credential_id', recallCredentialId === null ? null : str(recallCredentialId));
  return parts.join(' AND ');
}

export class DynamoTokenStore extends DynamoTokenReader implements TokenStore {
  private readonly dueIndexName: string;
  private readonly dueShards: number;

  constructor(options: DynamoTokenStoreOptions) {
    super(options);
    this.dueIndexName = options.dueIndexName ?? 'due-index';
    this.dueShards = options.dueShards ?? 8;
  }

  /** The due-index shard of a user: stable, spread evenly by a hash of the id. */
  shardOf(userId: string): string {
    return String(createHash('sha256').update(userId).digest().readUInt32BE(0) % this.dueShards);
  }

  async create(user: StoredUser): Promise<void> {
    // The legacy marker stands for "no registration_id attribute": a record created with it could never be refreshed.
    if (user.registrationId === LEGACY_REGISTRATION_ID) throw new Error('a new record needs its own registration id');
    const writeId = randomUUID();
    const item: Item = { [WRITE_ID]: str(writeId) };
    for (const field of ['userId', 'registrationId', 'version', 'createdAt'] as const) {
      for (const [name, value] of (ATTRIBUTES[field] as Codec<unknown>).write(user[field])) if (value) item[name] = value;
    }
    const { userId: _userId, registrationId: _registrationId, version: _version, createdAt: _createdAt, ...fields } = user;
    for (const [name, value] of this.withDueAttributes(user.userId, fields)) if (value) item[name] = value;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(user_id)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!(await this.landed(user.userId, writeId, error.Item))) throw new ConflictError('user already exists');
    }
  }

  async update(userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser> {
    const writeId = randomUUID();
    const names: Record<string, string> = { '#version': 'version', [`#${WRITE_ID}`]: WRITE_ID };
    const values: Item = { ':one': num(1), [`:${WRITE_ID}`]: str(writeId) };
    const sets = ['#version = #version + :one', `#${WRITE_ID} = :${WRITE_ID}`];
    const removes: string[] = [];
    for (const [name, value] of this.withDueAttributes(userId, update)) {
      names[`#${name}`] = name;
      if (value === null) removes.push(`#${name}`);
      else {
        values[`:${name}`] = value;
        sets.push(`#${name} = :${name}`);
      }
    }
    try {
      const answer = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { user_id: str(userId) },
          UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: conditionExpression(condition, names, values),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return toUser(answer.Attributes!);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Also what a missing item answers: the condition cannot hold. Callers re-read.
      const landed = await this.landed(userId, writeId, error.Item);
      if (landed) return toUser(landed);
      throw new ConflictError('stored item changed');
    }
  }

  async delete(userId: string, condition?: WriteCondition): Promise<void> {
    const names: Record<string, string> = {};
    const values: Item = {};
    // A missing item passes: a delete the SDK sends again after its answer was lost is one delete.
    const conditional = condition ? `attribute_not_exists(#user_id) OR (${conditionExpression(condition, names, values)})` : undefined;
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { user_id: str(userId) },
          ...(conditional ? { ConditionExpression: conditional, ExpressionAttributeNames: names, ExpressionAttributeValues: values } : {}),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('stored item changed');
      throw error;
    }
  }

  /**
   * The item, when it carries `writeId`: a write whose condition failed had in fact landed (an
   * earlier send of the same request, its answer lost). From the failure's own answer when
   * DynamoDB returned the item, else from a consistent read.
   */
  private async landed(userId: string, writeId: string, failedOn: Item | undefined): Promise<Item | undefined> {
    const item =
      failedOn ??
      (await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { user_id: str(userId) }, ConsistentRead: true }))).Item;
    return item?.[WRITE_ID]?.S === writeId ? item : undefined;
  }

  async listWhere(
    field: 'status' | 'recallStatus',
    value: string,
    page: { limit: number; after?: string },
  ): Promise<{ users: StoredUser[]; last?: string }> {
    const index = field === 'status' ? TABLE_SCHEMA.statusIndex : TABLE_SCHEMA.recallStatusIndex;
    const key = index.partitionKey.name;
    const found = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index.name,
        KeyConditionExpression: '#key = :value',
        ExpressionAttributeNames: { '#key': key },
        ExpressionAttributeValues: { ':value': str(value) },
        Limit: page.limit,
        ...(page.after ? { ExclusiveStartKey: { [key]: str(value), user_id: str(page.after) } } : {}),
      }),
    );
    const ids = (found.Items ?? []).map((item) => item.user_id.S!);
    const users = await this.getMany(ids);
    const last = found.LastEvaluatedKey?.user_id?.S;
    return { users, ...(last ? { last } : {}) };
  }

  async findByZoomUser(zoomUserId: string): Promise<StoredUser[]> {
    const index = TABLE_SCHEMA.zoomUserIndex;
    const ids: string[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#key = :value',
          ExpressionAttributeNames: { '#key': index.partitionKey.name },
          ExpressionAttributeValues: { ':value': str(zoomUserId) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) ids.push(item.user_id.S!);
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    // The index is eventually consistent: the items are read again, and only ones still naming the Zoom user kept.
    return (await this.getMany(ids)).filter((user) => user.zoomUserId === zoomUserId);
  }

  /** The items of `userIds` (consistent), in that order; ones deleted meanwhile are left out. */
  private async getMany(userIds: string[]): Promise<StoredUser[]> {
    const byId = new Map<string, StoredUser>();
    for (let i = 0; i < userIds.length; i += 100) {
      let keys: Item[] | undefined = userIds.slice(i, i + 100).map((userId) => ({ user_id: str(userId) }));
      while (keys?.length) {
        const answer: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) byId.set(item.user_id.S!, toUser(item));
        keys = answer.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return userIds.flatMap((userId) => byId.get(userId) ?? []);
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
   * Field attributes plus the due-index attributes they imply: a user needing re-authorization,
   * or deauthorized at Zoom, leaves the index; a new access-token expiry, always written with
   * status active, moves the user in it, to its refresh due time when the update names one (an
   * idle user under the adaptive policy), else to the expiry.
   */
  private withDueAttributes(userId: string, update: UserUpdate): Array<[string, AttributeValue | null]> {
    const attributes = fieldAttributes(update);
    if (update.status === 'reauth_required' || update.status === 'deauthorized') {
      attributes.push(['due_shard', null], ['due_at', null]);
    } else if (update.status === 'active' && typeof update.accessTokenExpiresAt === 'number') {
      const dueAt = typeof update.refreshDueAt === 'number' ? update.refreshDueAt : update.accessTokenExpiresAt;
      attributes.push(['due_shard', str(this.shardOf(userId))], ['due_at', num(dueAt)]);
    } else if (update.accessTokenExpiresAt !== undefined || update.refreshDueAt !== undefined) {
      // Without the status the index could take back a user who needs re-authorization.
      throw new Error('a new access-token expiry or refresh due time must be written together with status active and the expiry');
    }
    return attributes;
  }
}
