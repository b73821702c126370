/**
 * Zoom's REST API, the routes that mint bot tokens, beside the OAuth token client
 * (./zoom-client.ts) and on the same HTTP plumbing (./http-retry.ts: per-attempt timeouts,
 * backoff with jitter, Retry-After, an overall deadline). Unlike a refresh, a mint spends
 * nothing, so transient failures are tried again here, within the caller's deadline; an access
 * token Zoom rejects is not (the caller has the workers refresh it first). Answers are
 * classified by the domain (domain/bot-tokens.ts); the bearer token goes in the header only and
 * never into a result, a log line or an error.
 */
import type { BotTokenKind } from '../contract';
import { classifyZoomApiAnswer, retriedInPlace, type ZoomApiAnswer } from '../domain/bot-tokens';
import type { ZoomApiClient, ZoomMintResult } from '../domain/ports';
import { TIMING } from '../domain/timing';
import { fetchText, type HttpOutcome, parseRetryAfter, requestWithRetry, type RetryOptions } from './http-retry';

export interface ZoomApiClientConfig {
  /** e.g. https://api.zoom.us/v2 (no trailing slash). */
  baseUrl: string;
  /** Per attempt. Default TIMING.zoomApiAttemptTimeoutMs. */
  attemptTimeoutMs?: number;
  /** Attempts in all. Default 3. */
  maxAttempts?: number;
  now?: () => number;
  sleep?: RetryOptions['sleep'];
  random?: () => number;
}

/** Zoom's route for each kind (see the reference notes, "Bot tokens"). */
export function botTokenUrl(baseUrl: string, kind: BotTokenKind, meetingId: string): string {
  const meeting = encodeURIComponent(meetingId);
  switch (kind) {
    case 'obf':
      return `${baseUrl}/users/me/token?type=onbehalf&meeting_id=${meeting}`;
    case 'zak':
      return `${baseUrl}/users/me/token?type=zak`;
    case 'join_token':
      return `${baseUrl}/meetings/${meeting}/jointoken/local_recording`;
  }
}

export function createZoomApiClient(config: ZoomApiClientConfig): ZoomApiClient {
  const now = config.now ?? Date.now;
  const classify = (outcome: HttpOutcome): ZoomMintResult => classifyZoomApiAnswer(answerOf(outcome, now()));
  return {
    async mintBotToken(kind, meetingId, accessToken, options) {
      const url = botTokenUrl(config.baseUrl, kind, meetingId);
      const init: RequestInit = { method: 'GET', headers: { Authorization: `Bearer ${accessToken}`, Accept: 'application/json' } };
      const outcome = await requestWithRetry((signal) => fetchText(url, init, signal), {
        maxAttempts: config.maxAttempts ?? 3,
        baseDelayMs: 100,
        maxDelayMs: 1_000,
        timeoutMs: config.attemptTimeoutMs ?? TIMING.zoomApiAttemptTimeoutMs,
        // A longer Retry-After than the answer budget holds ends the tries: the bot is told to come back.
        maxRetryAfterMs: TIMING.answerBudgetMs,
        deadline: options.deadline,
        now,
        sleep: config.sleep,
        random: config.random,
        isRetryable: (attempt) => retriedInPlace(classify(attempt)),
      });
      return classify(outcome);
    },
  };
}

/** One attempt's outcome as the domain classifies it: status, body and Retry-After, or no answer. */
function answerOf(outcome: HttpOutcome, now: number): ZoomApiAnswer {
  if (!('reply' in outcome)) return { failure: outcome.timedOut ? 'timeout' : 'network' };
  const { status, body, headers } = outcome.reply;
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), now);
  return { status, body, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}
