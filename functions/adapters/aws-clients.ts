/**
 * SDK calls never hang a function: a call that takes longer than this is abandoned and retried
 * (the SDK's standard retry, at most 3 attempts). Every AWS client of the functions is made with it.
 */
export const AWS_CLIENT_OPTIONS = { maxAttempts: 3, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } } as const;
