/**
 * The AWS SDK clients' settings, shared by every function (composition.ts) and checked against
 * the timing budgets (test/unit/timing.test.ts): one SDK call may take at most
 * `awsCallWorstCaseMs()`, and a refreshed pair's save must fit in what is kept for it.
 *
 * `throwOnRequestTimeout`: without it the SDK's requestTimeout only logs a warning and a hung
 * request is waited for as long as the function lives.
 *
 * `cacheMiddleware`: each client resolves its middleware stack once per command class instead of
 * on every call (the SDK's documented option; tens of microseconds a call on the callback's
 * path). Middleware must therefore be added before a client's first call (the chaos harness's
 * fault injection is); nothing adds any to the functions' clients after they are made.
 */
export const AWS_CLIENT_OPTIONS = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
  cacheMiddleware: true,
} as const;

/**
 * The SDK's standard retry waits a random time up to base × 2^i before its (i+1)-th retry, capped;
 * the base is largest after throttling (@smithy/core's retry: Retry.throttlingDelay(),
 * MAXIMUM_RETRY_DELAY). DynamoDB and KMS send no Retry-After, which could lengthen a wait.
 */
export const AWS_RETRY_BACKOFF = { throttlingBaseMs: 1_000, maxDelayMs: 20_000 } as const;

export interface AwsClientOptions {
  maxAttempts: number;
  requestHandler: { connectionTimeout: number; requestTimeout: number };
}

/** The longest one SDK call can take: every attempt waiting out its connection and request timeouts, with the longest backoffs between. */
export function awsCallWorstCaseMs(options: AwsClientOptions = AWS_CLIENT_OPTIONS, backoff = AWS_RETRY_BACKOFF): number {
  const { maxAttempts, requestHandler } = options;
  let total = maxAttempts * (requestHandler.connectionTimeout + requestHandler.requestTimeout);
  for (let retry = 0; retry < maxAttempts - 1; retry++) total += Math.min(backoff.throttlingBaseMs * 2 ** retry, backoff.maxDelayMs);
  return total;
}
