/**
 * The local stand-in for SQS and its Lambda event source mapping: the same at-least-once
 * semantics, in process. Messages go to the worker handler in batches (as SQS events), at most
 * `concurrency` batches at a time; a message the handler reports as failed becomes visible
 * again after the visibility timeout, and after `maxReceiveCount` deliveries it goes to the
 * dead-letter list. `duplicateEvery` delivers every n-th message twice, as SQS may.
 */
import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { RefreshQueue, RefreshRequest } from '../functions/domain/ports';

export type WorkerHandler = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

export interface LocalRefreshQueueOptions {
  /** Batches handled at once (the mapping's maximum concurrency). */
  concurrency: number;
  batchSize?: number;
  visibilityTimeoutMs?: number;
  maxReceiveCount?: number;
  duplicateEvery?: number;
}

interface Message {
  id: string;
  body: string;
  receiveCount: number;
  visibleAt: number;
}

export class LocalRefreshQueue implements RefreshQueue {
  private readonly waiting: Message[] = [];
  /** Messages being handled, and the batches they came in (the mapping's concurrency counts batches: invocations). */
  private inFlight = 0;
  private batchesInFlight = 0;
  private handler?: WorkerHandler;
  private timer?: NodeJS.Timeout;
  private idle: Array<() => void> = [];
  private sent = 0;
  readonly deadLetters: Array<{ body: string; receiveCount: number }> = [];
  /** Deliveries made (a message delivered twice counts twice). */
  deliveries = 0;

  constructor(private readonly options: LocalRefreshQueueOptions) {}

  /** The worker the queue delivers to (set once the handlers exist). */
  attach(handler: WorkerHandler): void {
    this.handler = handler;
    this.pump();
  }

  async enqueue(requests: RefreshRequest[], options: { delaySeconds?: number } = {}): Promise<void> {
    const visibleAt = Date.now() + (options.delaySeconds ?? 0) * 1000;
    for (const request of requests) {
      const message = { id: randomUUID(), body: JSON.stringify(request), receiveCount: 0, visibleAt };
      this.waiting.push(message);
      this.sent += 1;
      if (this.options.duplicateEvery && this.sent % this.options.duplicateEvery === 0) this.waiting.push({ ...message, id: randomUUID() });
    }
    this.pump();
  }

  /** Messages not yet done (waiting, delayed or being handled). */
  get depth(): number {
    return this.waiting.length + this.inFlight;
  }

  /** Resolves once every message is done or dead-lettered. */
  drain(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  close(): void {
    clearTimeout(this.timer);
    this.handler = undefined;
  }

  private pump(): void {
    if (!this.handler) return;
    const now = Date.now();
    while (this.batchesInFlight < this.options.concurrency) {
      const batch = this.takeVisible(now);
      if (batch.length === 0) break;
      this.inFlight += batch.length;
      this.batchesInFlight += 1;
      void this.deliver(batch);
    }
    this.scheduleNext(now);
    if (this.depth === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private takeVisible(now: number): Message[] {
    const batch: Message[] = [];
    for (let i = 0; i < this.waiting.length && batch.length < (this.options.batchSize ?? 10); ) {
      if (this.waiting[i].visibleAt <= now) batch.push(...this.waiting.splice(i, 1));
      else i++;
    }
    return batch;
  }

  private scheduleNext(now: number): void {
    clearTimeout(this.timer);
    if (this.waiting.length === 0 || !this.handler) return;
    const next = Math.min(...this.waiting.map((message) => message.visibleAt));
    this.timer = setTimeout(() => this.pump(), Math.max(0, next - now));
    this.timer.unref();
  }

  private async deliver(batch: Message[]): Promise<void> {
    for (const message of batch) message.receiveCount += 1;
    this.deliveries += batch.length;
    let failed: Set<string>;
    try {
      const answer = await this.handler!({ Records: batch.map(toRecord) });
      failed = new Set((answer?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch {
      failed = new Set(batch.map((message) => message.id));
    }
    const retryAt = Date.now() + (this.options.visibilityTimeoutMs ?? 1_000);
    for (const message of batch.filter((candidate) => failed.has(candidate.id))) {
      if (message.receiveCount >= (this.options.maxReceiveCount ?? 5))
        this.deadLetters.push({ body: message.body, receiveCount: message.receiveCount });
      else this.waiting.push({ ...message, visibleAt: retryAt });
    }
    this.inFlight -= batch.length;
    this.batchesInFlight -= 1;
    this.pump();
  }
}

function toRecord(message: Message): SQSRecord {
  return {
    messageId: message.id,
    receiptHandle: message.id,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:local-refresh-queue',
    awsRegion: 'us-east-1',
  };
}
