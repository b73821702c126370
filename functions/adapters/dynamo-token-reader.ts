/**
 * Reading the token table: one user's item by its key. All the callback and the bot-token routes
 * do with the table, so their bundles hold this and the GetItem command only
 * (./dynamo-token-store.ts adds the writes, queries and batch reads).
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { TokenReader } from '../domain/ports';
import type { StoredUser } from '../domain/token-record';
import { str, toUser } from './dynamo-item';

export interface DynamoTokenReaderOptions {
  client: DynamoDBClient;
  tableName: string;
}

export class DynamoTokenReader implements TokenReader {
  protected readonly client: DynamoDBClient;
  protected readonly tableName: string;

  constructor(options: DynamoTokenReaderOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
  }

  async get(userId: string, options: { consistent?: boolean } = {}): Promise<StoredUser | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { user_id: str(userId) }, ConsistentRead: options.consistent ?? false }),
    );
    return answer.Item ? toUser(answer.Item) : undefined;
  }
}
