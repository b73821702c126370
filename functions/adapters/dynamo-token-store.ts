/**
 * The token table on DynamoDB. One item per user, keyed by `user_id`; every write is
 * conditional (optimistic locking on `version`, or on the token generation a refresh consumed).
 *
 * The sparse due index: an item carries `due_shard` and `due_at` (the access token's expiry)
 * only while its status is `active`, so users needing re-authorization, and deleted users, are
 * not in the index. The shard spreads the index over several partitions; the dispatcher queries
 * every shard for the due window only, merging them in due-time order.
 *
 * Reads by key come from ./dynamo-token-reader.ts, items from ./dynamo-item.ts.
 */
import { createHash } from 'node:crypto';
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  DeleteItemCommand,
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
    const item: Item = {};
    for (const field of ['userId', 'registrationId', 'version', 'createdAt'] as const) {
      for (const [name, value] of (ATTRIBUTES[field] as Codec<unknown>).write(user[field])) if (value) item[name] = value;
    }
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

  async delete(userId: string, condition?: { version: number }): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { user_id: str(userId) },
          ...(condition
            ? {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': num(condition.version) },
              }
            : {}),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new ConflictError('stored item changed');
      throw error;
    }
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
