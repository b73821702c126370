/**
 * Fault injection on the real AWS SDK clients, as middleware: the real adapters (DynamoTokenStore,
 * KmsEnvelopeCipher) run unchanged. Placed in the finalizeRequest step below the SDK's retry
 * middleware, so the SDK retries what it would retry in production (throttling, timeouts) and a
 * write whose answer is lost is sent again: the retry then meets the write's own conditional check.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
import { AWS_CLIENT_OPTIONS } from '../../functions/adapters/aws-client-options';
import type { Rng } from './prng';

export interface DynamoFaults {
  /** ProvisionedThroughputExceededException before the request is sent (nothing applied). */
  throttle?: number;
  /** A timeout before the request is sent (nothing applied). */
  timeoutBefore?: number;
  /** The request is applied, then the caller gets a timeout: a lost answer (writes only). */
  timeoutAfterWrite?: number;
}

export interface KmsFaults {
  generateDataKey?: number;
  decrypt?: number;
}

export interface FaultCounts {
  dynamo: Record<string, number>;
  kms: Record<string, number>;
}

export function newFaultCounts(): FaultCounts {
  return { dynamo: {}, kms: {} };
}

function sdkError(name: string, message: string, httpStatusCode: number): Error {
  return Object.assign(new Error(message), { name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode } });
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

type Middleware = Parameters<DynamoDBClient['middlewareStack']['add']>[0];

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Adds DynamoDB faults to `client`; `faults()` is read per request (undefined: none). */
export function injectDynamoFaults(client: DynamoDBClient, faults: () => DynamoFaults | undefined, rng: Rng, counts: FaultCounts): void {
  const middleware: Middleware = (next, context) => async (args) => {
    const plan = faults();
    const command = (context as { commandName?: string }).commandName ?? 'unknown';
    if (plan) {
      if (rng() < (plan.throttle ?? 0)) {
        bump(counts.dynamo, `${command}:throttle`);
        throw sdkError(
          'ProvisionedThroughputExceededException',
          'The level of configured provisioned throughput for the table was exceeded.',
          400,
        );
      }
      if (rng() < (plan.timeoutBefore ?? 0)) {
        bump(counts.dynamo, `${command}:timeout_before`);
        throw sdkError('TimeoutError', 'Connection timed out (chaos, request not sent)', 0);
      }
      if (WRITES.has(command) && rng() < (plan.timeoutAfterWrite ?? 0)) {
        await next(args); // applied (or failed its condition): the answer is lost either way
        bump(counts.dynamo, `${command}:timeout_after_write`);
        throw sdkError('TimeoutError', 'Connection timed out (chaos, answer lost)', 0);
      }
    }
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'finalizeRequest', priority: 'low', name: 'chaosDynamoFaults' });
}

const { connectionTimeout, requestTimeout } = AWS_CLIENT_OPTIONS.requestHandler;
/** A hung DynamoDB attempt: waits out the clients' connection and request timeouts. */
export const HUNG_ATTEMPT_MS = connectionTimeout + requestTimeout;
/** A slow DynamoDB answer: a second inside the request timeout. */
export const SLOW_ANSWER_MS = requestTimeout - 1_000;

/**
 * A slow DynamoDB: `slowness(command)` says what becomes of each request. `hung`: it waits out
 * the clients' timeouts and fails as the SDK's own timeout would (a TimeoutError, which the SDK
 * retries), nothing sent; `slow`: it is answered, a second inside the request timeout.
 */
export function injectDynamoSlowness(
  client: DynamoDBClient,
  slowness: (command: string) => 'hung' | 'slow' | undefined,
  counts: FaultCounts,
): void {
  const middleware: Middleware = (next, context) => async (args) => {
    const command = (context as { commandName?: string }).commandName ?? 'unknown';
    const how = slowness(command);
    if (how) {
      bump(counts.dynamo, `${command}:${how}`);
      await new Promise((resolve) => setTimeout(resolve, how === 'hung' ? HUNG_ATTEMPT_MS : SLOW_ANSWER_MS));
      if (how === 'hung') throw sdkError('TimeoutError', 'chaos: no answer within the request timeout', 0);
    }
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'finalizeRequest', priority: 'low', name: 'chaosDynamoSlowness' });
}

/**
 * A dead process sends nothing more: every attempt the SDK makes after `dead()` (a retry, say)
 * hangs unsent. What was already on the wire still lands.
 */
export function sendNothingWhenDead(client: DynamoDBClient | KMSClient, dead: () => boolean): void {
  const never = new Promise<never>(() => undefined);
  const middleware: Middleware = (next) => async (args) => (dead() ? never : next(args));
  (client.middlewareStack as DynamoDBClient['middlewareStack']).add(middleware as never, {
    step: 'finalizeRequest',
    priority: 'low',
    name: 'chaosDeadProcess',
  });
}

type KmsMiddleware = Parameters<KMSClient['middlewareStack']['add']>[0];

const KMS_ERRORS: Array<[string, number]> = [
  ['ThrottlingException', 400],
  ['KMSInternalException', 500],
  ['DependencyTimeoutException', 503],
  ['TimeoutError', 0],
];

/** Adds KMS faults to `client` (GenerateDataKey, Decrypt); `faults()` is read per request. */
export function injectKmsFaults(client: KMSClient, faults: () => KmsFaults | undefined, rng: Rng, counts: FaultCounts): void {
  const middleware: KmsMiddleware = (next, context) => async (args) => {
    const plan = faults();
    const command = (context as { commandName?: string }).commandName ?? 'unknown';
    const p = command === 'GenerateDataKeyCommand' ? plan?.generateDataKey : command === 'DecryptCommand' ? plan?.decrypt : undefined;
    if (p && rng() < p) {
      const [name, status] = KMS_ERRORS[Math.floor(rng() * KMS_ERRORS.length)];
      bump(counts.kms, `${command}:${name}`);
      throw sdkError(name, `chaos: ${name}`, status);
    }
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'finalizeRequest', priority: 'low', name: 'chaosKmsFaults' });
}
