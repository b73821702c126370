/**
 * Every timing budget of the service in one place. Their relations matter more than their
 * values (a Zoom wait longer than the lease would admit a second refresh; a save reserve larger
 * than what is left after the Zoom wait would leave a refreshed pair unsaved), so they are
 * checked against each other in test/unit/timing.test.ts.
 */

/** Recall rejects a token with less validity than this left after our answer. */
export const RECALL_MINIMUM_VALIDITY_MS = 120_000;

export const TIMING = {
  /** Recall gives the callback 5 s; we answer within this, whatever else is going on. */
  answerBudgetMs: 4_000,
  /**
   * A stored token with at least this much life is answered at once (Recall's 120 s plus a
   * margin for its own processing and clock skew); a refresh is never awaited for it.
   */
  serveFloorMs: RECALL_MINIMUM_VALIDITY_MS + 30_000,
  /** A token with less life than this is due for a refresh before it is served again. */
  serveMarginMs: 300_000,
  /**
   * A Zoom API call (bot tokens) needs a live access token, not Recall's 120 s: a stored token
   * with less than this left is refreshed through the workers first. Room for the call itself
   * and for clock skew between us and Zoom.
   */
  apiTokenMarginMs: 60_000,
  /** One attempt at Zoom's REST API (a bot token) waits this long at most; retries stay within the answer budget. */
  zoomApiAttemptTimeoutMs: 2_000,
  /** A Zoom API call is not started with less than this left of the answer budget: its answer could not arrive in time. */
  zoomApiMinimumWaitMs: 500,
  /** How long a lease admits its owner before another worker may take over. */
  leaseMs: 30_000,
  /** The lease is extended this often while its owner waits for Zoom. */
  leaseRenewMs: 10_000,
  /**
   * The least time a Zoom call must have before a refresh token is spent: a refresh whose answer
   * can't arrive in time is not started at all.
   */
  zoomMinimumWaitMs: 8_000,
  /**
   * What one save attempt may take: one DynamoDB update with every SDK attempt timing out and
   * the longest backoffs between (awsCallWorstCaseMs of the clients' options; the pair is sealed
   * with a data key reserved beforehand, no KMS call). None starts this close to the end.
   */
  saveAttemptReserveMs: 15_000,
  /** Sealing and writing a refreshed pair: the time kept after the Zoom answer, at least (one attempt and the end reserve). */
  saveReserveMs: 16_000,
  /** Kept back at the very end of an invocation: the last write's answer and the handler's own. */
  endReserveMs: 1_000,
  /** The admin API's Recall calls all end this long before the admin function's timeout, so a failure is recorded. */
  adminRecallReserveMs: 3_000,
  /** The admin `GET …/access-token` answers within this. */
  adminAnswerBudgetMs: 10_000,
  /** The dispatcher hands out no more users with less than this left of its invocation. */
  dispatchReserveMs: 10_000,
  /** Secrets (signing keys, API keys) are cached this long; a rotated one is picked up after. */
  secretMaxAgeMs: 300_000,
  /** The most a refresh waits for Zoom's client secret (read before the lease is taken, so never inside Zoom's wait). */
  secretReadTimeoutMs: 3_000,
  /**
   * A signature the cached secret cannot verify (a URL naming a key id the keyring lacks, a
   * Recall signature no cached verification secret matches) re-reads that secret at most this often.
   */
  keyringRefreshMinIntervalMs: 5_000,
  /** Recall's request signature (Standard Webhooks): its timestamp may be this far off our clock, either way. */
  recallSignatureToleranceMs: 300_000,
  /**
   * Function timeouts. The callback answers within the answer budget and never calls Zoom; its
   * timeout only bounds a stalled storage or KMS call.
   */
  callbackTimeoutMs: 20_000,
  adminTimeoutMs: 29_000,
  /** The dispatcher's timeout: at most the refresh interval, so one run is over before the next. */
  refresherMaxTimeoutMs: 300_000,
  /** A refresh worker's timeout: room for a slow Zoom answer and its save, for a batch at once. */
  workerTimeoutMs: 60_000,
} as const;

export type Timing = typeof TIMING;
