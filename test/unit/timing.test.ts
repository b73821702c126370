/**
 * The relations between the timing budgets (functions/domain/timing.ts). Each line is a reason
 * a grant or an answer could be lost if the numbers drifted apart.
 */
import { MAXIMUM_RETRY_DELAY, Retry } from '@smithy/core/retry';
import { AWS_CLIENT_OPTIONS, AWS_RETRY_BACKOFF, awsCallWorstCaseMs } from '../../functions/adapters/aws-client-options';
import { RECALL_MINIMUM_VALIDITY_MS, TIMING } from '../../functions/domain/timing';
import { REFRESH_WINDOW_SECONDS, REFRESH_INTERVAL_MINUTES } from '../../functions/contract';

const RECALL_WAITS_MS = 5_000;

test('the callback answers before Recall stops waiting', () => {
  expect(TIMING.answerBudgetMs).toBeLessThan(RECALL_WAITS_MS);
});

test('a token served at once is one Recall accepts, and it is refreshed long before that', () => {
  expect(TIMING.serveFloorMs).toBeGreaterThan(RECALL_MINIMUM_VALIDITY_MS);
  expect(TIMING.serveMarginMs).toBeGreaterThan(TIMING.serveFloorMs);
});

test('the refresher window covers an interval plus the serve margin, at every setting', () => {
  expect(REFRESH_WINDOW_SECONDS.min * 1000).toBeGreaterThanOrEqual(TIMING.serveMarginMs + 60_000);
  expect(REFRESH_WINDOW_SECONDS.default * 1000).toBeGreaterThanOrEqual(REFRESH_INTERVAL_MINUTES.default * 60_000 + TIMING.serveMarginMs);
  // Under Zoom's one-hour tokens, or every sweep would refresh every token.
  expect(REFRESH_WINDOW_SECONDS.max * 1000).toBeLessThan(3_600_000);
});

test('a lease outlives its renewal period, so a live holder never loses it to a takeover', () => {
  expect(TIMING.leaseRenewMs * 2).toBeLessThanOrEqual(TIMING.leaseMs);
});

test('a refresh worker has room for the least Zoom wait plus a save, and renews its lease in time', () => {
  expect(TIMING.zoomMinimumWaitMs + TIMING.saveReserveMs + TIMING.endReserveMs).toBeLessThanOrEqual(TIMING.workerTimeoutMs);
  expect(TIMING.leaseRenewMs).toBeLessThan(TIMING.leaseMs);
});

test('the callback answers within its budget long before its function times out', () => {
  expect(TIMING.answerBudgetMs + TIMING.endReserveMs).toBeLessThan(TIMING.callbackTimeoutMs);
});

test('a save reserve holds at least one full save attempt', () => {
  expect(TIMING.saveReserveMs).toBeGreaterThanOrEqual(TIMING.saveAttemptReserveMs);
});

describe("a refreshed pair's save fits the AWS SDK's worst case (the clients' own options)", () => {
  const worstCase = awsCallWorstCaseMs(AWS_CLIENT_OPTIONS);

  test('one save attempt (one DynamoDB update: every SDK attempt timing out, the longest backoffs) fits its reserve', () => {
    expect(worstCase).toBe(
      AWS_CLIENT_OPTIONS.maxAttempts *
        (AWS_CLIENT_OPTIONS.requestHandler.connectionTimeout + AWS_CLIENT_OPTIONS.requestHandler.requestTimeout) +
        AWS_RETRY_BACKOFF.throttlingBaseMs * (2 ** (AWS_CLIENT_OPTIONS.maxAttempts - 1) - 1),
    );
    expect(TIMING.saveAttemptReserveMs).toBeGreaterThanOrEqual(worstCase);
  });

  test("the first save attempt after Zoom's latest answer may start, and ends before the invocation", () => {
    // Zoom's wait ends saveReserveMs before the deadline; no attempt starts after
    // deadline - endReserveMs - saveAttemptReserveMs.
    expect(TIMING.saveReserveMs).toBeGreaterThanOrEqual(TIMING.saveAttemptReserveMs + TIMING.endReserveMs);
  });

  test("the backoff bound is the installed SDK's", () => {
    expect(AWS_RETRY_BACKOFF).toEqual({ throttlingBaseMs: Retry.throttlingDelay(), maxDelayMs: MAXIMUM_RETRY_DELAY });
    expect(Retry.throttlingDelay()).toBeGreaterThanOrEqual(Retry.delay());
  });
});

test('the admin function records a Recall failure and can serve a token within its timeout', () => {
  expect(TIMING.adminRecallReserveMs).toBeLessThan(TIMING.adminTimeoutMs);
  expect(TIMING.adminAnswerBudgetMs + TIMING.saveReserveMs).toBeLessThanOrEqual(TIMING.adminTimeoutMs);
  // API Gateway's HTTP integration timeout.
  expect(TIMING.adminTimeoutMs).toBeLessThanOrEqual(29_000);
});

test('the dispatcher stops handing out in time, and a run is over before the next one', () => {
  expect(TIMING.dispatchReserveMs).toBeLessThan(TIMING.refresherMaxTimeoutMs);
  expect(TIMING.refresherMaxTimeoutMs).toBeLessThanOrEqual(REFRESH_INTERVAL_MINUTES.default * 60_000);
});

test('a rotated signing key reaches every container within the secret cache age', () => {
  expect(TIMING.keyringRefreshMinIntervalMs).toBeLessThan(TIMING.secretMaxAgeMs);
});

test('a bot-token answer has room for a Zoom attempt, its retry, and a wait for a refreshed token', () => {
  // A token used for a Zoom call is still live when Zoom reads it, and it is refreshed first
  // well before the callback would stop serving it.
  expect(TIMING.apiTokenMarginMs).toBeGreaterThan(TIMING.answerBudgetMs);
  expect(TIMING.apiTokenMarginMs).toBeLessThan(TIMING.serveFloorMs);
  expect(TIMING.zoomApiMinimumWaitMs).toBeLessThan(TIMING.zoomApiAttemptTimeoutMs);
  expect(TIMING.zoomApiAttemptTimeoutMs * 2).toBeLessThanOrEqual(TIMING.answerBudgetMs);
});
