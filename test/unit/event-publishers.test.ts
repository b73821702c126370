/**
 * The EventBridge publisher (batches of 10, failed entries sent again) with a fake client, and
 * the wrapper that keeps publishing failures from failing anything (retries, counts, never throws).
 */
import type { PutEventsCommand, PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type MetricName } from '../../functions/contract';
import { EventPublishError, reliablePublisher } from '../../functions/adapters/event-publishers';
import { EventBridgePublisher } from '../../functions/adapters/eventbridge-publisher';
import { lifecycleEvents, type LifecycleEvent } from '../../functions/domain/events';
import type { EventPublisher } from '../../functions/domain/ports';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const noSleep = async () => undefined;
const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

function eventsFor(count: number): LifecycleEvent[] {
  return Array.from({ length: count }, (_, i) => lifecycleEvents.userDeleted(`user-${i}`, T0 + i));
}

/** A fake EventBridge client: records each PutEvents call's entries; `fail` says which entries (by user id) an answer fails. */
function fakeClient(fail: (userId: string, call: number) => boolean = () => false) {
  const calls: Array<Array<{ Source?: string; DetailType?: string; Detail?: string; EventBusName?: string }>> = [];
  return {
    calls,
    async send(command: PutEventsCommand): Promise<PutEventsCommandOutput> {
      const entries = command.input.Entries ?? [];
      calls.push(entries);
      const results = entries.map((entry) =>
        fail(JSON.parse(entry.Detail!).user_id, calls.length)
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
          : { EventId: `id-${calls.length}` },
      );
      return { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results, $metadata: {} };
    },
  };
}

describe('EventBridgePublisher', () => {
  test('25 events go out in 3 PutEvents calls of 10, 10 and 5, with source, detail type and detail', async () => {
    // Prepare
    const client = fakeClient();
    const publisher = new EventBridgePublisher({ client, eventBusName: 'bus', sleep: noSleep });

    // Act
    await publisher.publish(eventsFor(25));

    // Assess
    expect(client.calls.map((entries) => entries.length)).toEqual([10, 10, 5]);
    const first = client.calls[0][0];
    expect(first).toMatchObject({ Source: EVENT_SOURCE, DetailType: 'User Deleted', EventBusName: 'bus' });
    expect(JSON.parse(first.Detail!)).toEqual({ version: 1, user_id: 'user-0', status: 'deleted', time: '2030-01-01T00:00:00.000Z' });
  });

  test('entries that fail are sent again, alone, until they go in', async () => {
    // Prepare: user-3 and user-7 fail on the first call only
    const client = fakeClient((userId, call) => call === 1 && (userId === 'user-3' || userId === 'user-7'));
    const publisher = new EventBridgePublisher({ client, eventBusName: 'bus', sleep: noSleep });

    // Act
    await publisher.publish(eventsFor(10));

    // Assess
    expect(client.calls).toHaveLength(2);
    expect(client.calls[1].map((entry) => JSON.parse(entry.Detail!).user_id)).toEqual(['user-3', 'user-7']);
  });

  test('entries that keep failing are reported, after 3 tries, as an EventPublishError naming only them', async () => {
    // Prepare
    const client = fakeClient((userId) => userId === 'user-12');
    const publisher = new EventBridgePublisher({ client, eventBusName: 'bus', sleep: noSleep });

    // Act
    const error = await publisher.publish(eventsFor(15)).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(EventPublishError);
    expect((error as EventPublishError).failed.map((event) => event.detail.user_id)).toEqual(['user-12']);
    expect(client.calls.map((entries) => entries.length)).toEqual([10, 5, 1, 1]);
  });

  test('a batch whose call throws is sent again whole', async () => {
    // Prepare
    let calls = 0;
    const client = {
      async send(command: PutEventsCommand): Promise<PutEventsCommandOutput> {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('socket hang up'), { name: 'NetworkError' });
        return { FailedEntryCount: 0, Entries: (command.input.Entries ?? []).map(() => ({ EventId: 'x' })), $metadata: {} };
      },
    };
    const publisher = new EventBridgePublisher({ client, eventBusName: 'bus', sleep: noSleep });

    // Act
    await publisher.publish(eventsFor(3));

    // Assess
    expect(calls).toBe(2);
  });
});

describe('reliablePublisher', () => {
  function counter() {
    const counts: Partial<Record<MetricName, number>> = {};
    const count = (name: MetricName, value: number) => {
      counts[name] = (counts[name] ?? 0) + value;
    };
    return { counts, count };
  }

  test('a publisher that always fails is tried 3 times, counted as EventsPublishFailed, and never throws', async () => {
    // Prepare
    let tries = 0;
    const failing: EventPublisher = {
      publish: async () => {
        tries += 1;
        throw new Error('down');
      },
    };
    const { counts, count } = counter();
    const errors: unknown[] = [];
    const publisher = reliablePublisher(failing, {
      logger: { ...quietLog, error: (...args: unknown[]) => void errors.push(args) },
      count,
      sleep: noSleep,
    });

    // Act
    await publisher.publish(eventsFor(2));

    // Assess
    expect(tries).toBe(3);
    expect(counts).toEqual({ EventsPublishFailed: 2 });
    expect(errors).toHaveLength(1);
  });

  test('only the events a partial failure names are tried again; the rest count as published', async () => {
    // Prepare
    const batches: string[][] = [];
    const partial: EventPublisher = {
      publish: async (events) => {
        batches.push(events.map((event) => event.detail.user_id));
        if (batches.length === 1) throw new EventPublishError(events.slice(1), 'one went in');
      },
    };
    const { counts, count } = counter();
    const publisher = reliablePublisher(partial, { logger: quietLog, count, sleep: noSleep });

    // Act
    await publisher.publish(eventsFor(3));

    // Assess
    expect(batches).toEqual([
      ['user-0', 'user-1', 'user-2'],
      ['user-1', 'user-2'],
    ]);
    expect(counts).toEqual({ EventsPublished: 3 });
  });
});
