/**
 * HTTP plumbing shared by the Recall and Zoom adapters: a per-attempt timeout, retries with
 * capped exponential backoff and full jitter, Retry-After, and an overall deadline. Whether an
 * outcome is worth another attempt is the caller's call (`isRetryable`).
 */

/** A fully read HTTP answer (the body is read inside the attempt's timeout). */
export interface HttpReply {
  status: number;
  headers: Headers;
  body: string;
}

/** One attempt's outcome: an answer, or a thrown error (network failure, timeout). */
export type HttpOutcome = { reply: HttpReply } | { error: unknown; timedOut: boolean };

export interface RetryOptions {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Backoff before retry n (1-based) is random() * min(maxDelayMs, baseDelayMs * 2^(n-1)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-attempt timeout; shortened to what is left before `deadline`. */
  timeoutMs: number;
  /** Upper bound on a waited Retry-After. */
  maxRetryAfterMs: number;
  /** Ms since the epoch: no attempt or wait runs past it. */
  deadline?: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

export const DEFAULT_RETRY_OPTIONS: RetryOptions = {
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  timeoutMs: 10_000,
  maxRetryAfterMs: 10_000,
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** The reason an attempt is aborted with when its time is up. */
export class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/** Runs `fn` with a signal that aborts after `ms`; rejects with TimeoutError then, even if `fn` ignores the signal. */
export async function withTimeout<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutError(ms)), ms);
  try {
    const aborted = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
    );
    return await Promise.race([fn(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
  }
}

/** fetch, read the whole body as text; redirects are not followed (credentials stay put). */
export async function fetchText(url: string | URL, init: RequestInit, signal: AbortSignal): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal, redirect: 'manual' });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Retry-After as delta-seconds or an HTTP date, in ms; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Full-jitter backoff before retry number `retry` (1-based). */
export function backoffDelay(retry: number, o: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  return Math.floor(o.random() * Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (retry - 1)));
}

/**
 * Sends until an outcome is not retryable, attempts run out, or the deadline would be passed;
 * returns the last outcome (never throws for HTTP or network failures) and the attempts made.
 * A retried reply with a Retry-After header waits that long (capped) instead of backing off.
 */
export async function requestWithRetry(
  send: (signal: AbortSignal) => Promise<HttpReply>,
  options: Partial<RetryOptions> & { isRetryable: (outcome: HttpOutcome) => boolean },
): Promise<HttpOutcome & { attempts: number }> {
  const o = { ...DEFAULT_RETRY_OPTIONS, ...stripUndefined(options) };
  const deadline = o.deadline ?? Infinity;
  let last: HttpOutcome | undefined;
  for (let attempt = 1; ; attempt++) {
    const budget = Math.min(o.timeoutMs, deadline - o.now());
    if (budget <= 0) {
      return { ...(last ?? { error: new TimeoutError(0), timedOut: true }), attempts: attempt - 1 };
    }
    try {
      last = { reply: await withTimeout(send, budget) };
    } catch (error) {
      last = { error, timedOut: error instanceof TimeoutError };
    }
    if (attempt >= o.maxAttempts || !options.isRetryable(last)) return { ...last, attempts: attempt };
    const retryAfter = 'reply' in last ? parseRetryAfter(last.reply.headers.get('retry-after'), o.now()) : undefined;
    const delay = retryAfter !== undefined ? Math.min(retryAfter, o.maxRetryAfterMs) : backoffDelay(attempt, o);
    if (o.now() + delay >= deadline) return { ...last, attempts: attempt };
    await o.sleep(delay);
  }
}

/** A JWT (three base64url parts, a JSON header): what Zoom's access tokens are. */
const JWT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/** Replaces each secret, every JWT, then every URL query string, with a marker; cuts to `maxLength`. */
export function sanitize(text: string, secrets: readonly (string | undefined)[], maxLength = 300): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  out = out.replace(JWT, '[redacted]');
  out = out.replace(/(https?:\/\/[^\s"'<>?#]*)\?[^\s"'<>#]*/g, '$1?[redacted]');
  return out.length > maxLength ? `${out.slice(0, maxLength - 1)}…` : out;
}

/** A short, secret-free description of a failed attempt. */
export function describeFailure(outcome: HttpOutcome): string {
  if ('reply' in outcome) return `HTTP ${outcome.reply.status}`;
  if (outcome.timedOut) return 'timeout';
  const cause = (outcome.error as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? `network error (${cause.code})` : 'network error';
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
