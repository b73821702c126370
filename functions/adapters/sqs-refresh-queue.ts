/**
 * The refresh queue on SQS: users handed to the refresh workers (a Lambda event source mapping
 * whose maximum concurrency is the throttle). Ten messages per SendMessageBatch; entries SQS
 * refuses are sent again once, then reported.
 *
 * The client is made on the first enqueue: the public token routes hand out a refresh only for a
 * token close to expiry, so most of their containers never need one, and a cold start does not
 * pay for it.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RefreshQueue, RefreshRequest } from '../domain/ports';

const BATCH = 10;

export class SqsRefreshQueue implements RefreshQueue {
  private client?: SQSClient;

  constructor(private readonly options: { client: () => SQSClient; queueUrl: string }) {}

  async enqueue(requests: RefreshRequest[], options: { delaySeconds?: number } = {}): Promise<void> {
    const batches: RefreshRequest[][] = [];
    for (let i = 0; i < requests.length; i += BATCH) batches.push(requests.slice(i, i + BATCH));
    await Promise.all(batches.map((batch) => this.sendBatch(batch, options.delaySeconds)));
  }

  private async sendBatch(batch: RefreshRequest[], delaySeconds: number | undefined): Promise<void> {
    let pending = batch.map((request, index) => ({
      Id: String(index),
      MessageBody: JSON.stringify(request),
      ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}),
    }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      this.client ??= this.options.client();
      const answer = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.options.queueUrl, Entries: pending }));
      const failed = new Set((answer.Failed ?? []).map((entry) => entry.Id));
      pending = pending.filter((entry) => failed.has(entry.Id));
      if (pending.length > 0 && attempt >= 2) throw new Error(`SQS refused ${pending.length} refresh requests`);
    }
  }
}

/** The body of a refresh request message, checked: anything else is a poison message. */
export function parseRefreshRequest(body: string): RefreshRequest | undefined {
  try {
    const value = JSON.parse(body) as Partial<RefreshRequest>;
    if (typeof value.userId !== 'string') return undefined;
    if (value.reason === 'due' || value.reason === 'serve') return { userId: value.userId, reason: value.reason };
    if (value.reason !== 'rejected' || !Number.isSafeInteger(value.rejectedExpiresAt)) return undefined;
    return { userId: value.userId, reason: value.reason, rejectedExpiresAt: value.rejectedExpiresAt };
  } catch {
    return undefined;
  }
}
