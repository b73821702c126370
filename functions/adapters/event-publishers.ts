/**
 * Lifecycle event publishers other than EventBridge, and the wrapper every publisher handed to
 * the domain goes through: a state change (a refresh, a PUT, a deauthorization) never fails, or
 * waits long, for its event.
 */
import type { LifecycleEvent } from '../domain/events';
import type { EventPublisher, Log } from '../domain/ports';
import { EVENT_SOURCE, type MetricName } from '../contract';

/** Some events could not be published; `failed` are those (the others went out). */
export class EventPublishError extends Error {
  constructor(
    readonly failed: LifecycleEvent[],
    message: string,
  ) {
    super(message);
    this.name = 'EventPublishError';
  }
}

/** No destination configured: events are dropped. */
export const noEventPublisher: EventPublisher = { publish: async () => undefined };

/** The JSON a webhook receives: EventBridge's envelope fields, so one consumer reads both. */
export function eventEnvelope(event: LifecycleEvent) {
  return { source: EVENT_SOURCE, 'detail-type': event.detailType, time: event.detail.time, detail: event.detail };
}

/**
 * Local runtime: each event POSTed as JSON (eventEnvelope) to a URL, and logged. A non-2xx
 * answer or no answer within `timeoutMs` fails that event.
 */
export function webhookEventPublisher(options: { url: string; logger: Log; timeoutMs?: number }): EventPublisher {
  const timeoutMs = options.timeoutMs ?? 2_000;
  return {
    async publish(events) {
      const failed: LifecycleEvent[] = [];
      for (const event of events) {
        options.logger.info('lifecycle event', {
          detailType: event.detailType,
          userId: event.detail.user_id,
          status: event.detail.status,
          reason: event.detail.reason,
        });
        try {
          const response = await fetch(options.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(eventEnvelope(event)),
            redirect: 'manual',
            signal: AbortSignal.timeout(timeoutMs),
          });
          await response.arrayBuffer().catch(() => undefined);
          if (response.status < 200 || response.status >= 300) failed.push(event);
        } catch {
          failed.push(event);
        }
      }
      if (failed.length) throw new EventPublishError(failed, `webhook refused or missed ${failed.length} of ${events.length} events`);
    },
  };
}

export interface ReliableOptions {
  logger: Log;
  /** Counts EventsPublished / EventsPublishFailed. */
  count: (metric: MetricName, value: number) => void;
  /** Tries in all (default 3); only the events that failed are tried again. */
  attempts?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Never throws: what fails is tried again a few times with backoff, then counted
 * (EventsPublishFailed) and logged by detail type and user id (an event holds nothing secret,
 * and the error's message comes from our adapters). What went out counts as EventsPublished.
 */
export function reliablePublisher(inner: EventPublisher, options: ReliableOptions): EventPublisher {
  const attempts = options.attempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return {
    async publish(events) {
      if (events.length === 0) return;
      let pending = events;
      let lastError: unknown;
      for (let attempt = 1; pending.length > 0 && attempt <= attempts; attempt++) {
        if (attempt > 1) await sleep(baseDelayMs * 2 ** (attempt - 2));
        try {
          await inner.publish(pending);
          pending = [];
        } catch (error) {
          lastError = error;
          // Without a list of what failed, all of it is tried again (at least once: consumers dedupe on user_id + time).
          pending = error instanceof EventPublishError ? error.failed : pending;
        }
      }
      const published = events.length - pending.length;
      if (published > 0) options.count('EventsPublished', published);
      if (pending.length > 0) {
        options.count('EventsPublishFailed', pending.length);
        options.logger.error('lifecycle events not published', {
          failed: pending.map((event) => ({ detailType: event.detailType, userId: event.detail.user_id })),
          errorName: lastError instanceof Error ? lastError.name : typeof lastError,
          errorMessage: lastError instanceof Error ? lastError.message : undefined,
        });
      }
    },
  };
}
