/**
 * The options every AWS client of the functions is made with.
 *
 * SDK calls never hang a function: a call that takes longer than the timeouts is abandoned and
 * retried (the SDK's standard retry, at most 3 attempts).
 *
 * `cacheMiddleware`: each client resolves its middleware stack once per command class instead of
 * on every call (the SDK's documented option; tens of microseconds a call on the callback's
 * path). Nothing adds middleware to the functions' clients after they are made.
 */
export const AWS_CLIENT_OPTIONS = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  cacheMiddleware: true,
} as const;
