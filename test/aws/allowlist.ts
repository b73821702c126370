/**
 * Grants no recorded call uses, each with the reason it stays. Everything else a role grants must
 * be used by its function in the contract test (test/aws/bundles.test.ts), or that test fails.
 */
import type { FunctionName } from '../../functions/contract';

export interface AllowedUnusedGrant {
  fn: FunctionName;
  action: string;
  reason: string;
}

export const UNUSED_GRANTS_ALLOWED: readonly AllowedUnusedGrant[] = [
  {
    fn: 'refresh-worker',
    action: 'sqs:ChangeMessageVisibility',
    reason:
      "granted by CDK's SqsEventSource (queue.grantConsumeMessages), which the construct adds unasked; Lambda's " +
      'poller needs only ReceiveMessage, DeleteMessage and GetQueueAttributes, and a failed message waits out its visibility timeout.',
  },
  {
    fn: 'refresh-worker',
    action: 'sqs:GetQueueUrl',
    reason: "granted by CDK's SqsEventSource with the others; the poller knows the queue by its ARN and never asks for its URL.",
  },
];

export function isAllowedUnused(fn: FunctionName, action: string): boolean {
  return UNUSED_GRANTS_ALLOWED.some((entry) => entry.fn === fn && entry.action.toLowerCase() === action.toLowerCase());
}
