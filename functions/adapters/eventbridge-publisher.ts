/**
 * Lifecycle events to an EventBridge bus: PutEvents in batches of 10 (its limit), source
 * EVENT_SOURCE, detail-type per event. PutEvents answers 200 even when some entries failed
 * (FailedEntryCount, an ErrorCode per entry): those entries, and whole batches whose call threw,
 * are sent again with backoff a few times; what still fails is reported as EventPublishError.
 */
import { PutEventsCommand, type PutEventsCommandOutput, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE } from '../contract';
import type { LifecycleEvent } from '../domain/events';
import type { EventPublisher } from '../domain/ports';
import { EventPublishError } from './event-publishers';

/** The slice of EventBridgeClient used: a fake with `send` stands in for it in tests. */
export interface EventBridgeSender {
  send(command: PutEventsCommand): Promise<PutEventsCommandOutput>;
}

export interface EventBridgePublisherOptions {
  client: EventBridgeSender;
  /** Bus name or ARN. */
  eventBusName: string;
  /** Tries per entry in all (default 3). */
  attempts?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** PutEvents takes at most 10 entries. */
export const PUT_EVENTS_BATCH = 10;

export class EventBridgePublisher implements EventPublisher {
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: EventBridgePublisherOptions) {
    this.attempts = options.attempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.sleep = options.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  }

  async publish(events: LifecycleEvent[]): Promise<void> {
    const failed: LifecycleEvent[] = [];
    const codes = new Set<string>();
    for (let i = 0; i < events.length; i += PUT_EVENTS_BATCH) {
      const batch = await this.sendBatch(events.slice(i, i + PUT_EVENTS_BATCH), codes);
      failed.push(...batch);
    }
    if (failed.length)
      throw new EventPublishError(
        failed,
        `EventBridge did not take ${failed.length} of ${events.length} events (${[...codes].join(', ') || 'error'})`,
      );
  }

  /** Sends one batch, then its failed entries again; returns what never went in. */
  private async sendBatch(batch: LifecycleEvent[], codes: Set<string>): Promise<LifecycleEvent[]> {
    let pending = batch;
    for (let attempt = 1; pending.length > 0 && attempt <= this.attempts; attempt++) {
      if (attempt > 1) await this.sleep(this.baseDelayMs * 2 ** (attempt - 2));
      try {
        const answer = await this.options.client.send(new PutEventsCommand({ Entries: pending.map((event) => this.entry(event)) }));
        if (!answer.FailedEntryCount) return [];
        // Entries answer in request order; a failed one carries an ErrorCode.
        const entries = answer.Entries ?? [];
        const next = pending.filter((_, index) => {
          const code = entries[index]?.ErrorCode;
          if (code) codes.add(code);
          return code !== undefined || entries[index]?.EventId === undefined;
        });
        pending = next;
      } catch (error) {
        codes.add(error instanceof Error ? error.name : 'error');
      }
    }
    return pending;
  }

  private entry(event: LifecycleEvent): PutEventsRequestEntry {
    return {
      EventBusName: this.options.eventBusName,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      Time: new Date(event.detail.time),
    };
  }
}
