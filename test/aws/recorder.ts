/**
 * The AWS calls the functions make, as IAM would authorize them, tagged with the function that
 * made each (the access key id it signed with). The stand-ins report every request they receive
 * (local/aws-requests.ts); requests signed by anything but a function (a test's own setup or
 * inspection, 'local') are not a function's and are left out.
 *
 * Calls are kept distinct (function, action, resource, condition keys) with a count, so a chaos
 * run's thousands of requests cost a few dozen entries.
 */
import type { FunctionName } from '../../functions/contract';
import { type AwsRequest, type AwsRequestObserver, functionOfAccessKeyId } from '../../local/aws-requests';
import { type IamRequest, iamRequestsOf } from './iam-requests';

export interface FunctionCall {
  fn: FunctionName;
  request: IamRequest;
}

export function callKey({ fn, request }: FunctionCall): string {
  const context = Object.entries(request.context).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([fn, request.action, request.resource, context]);
}

export class CallLog {
  private readonly calls = new Map<string, { call: FunctionCall; count: number }>();
  private readonly unmappedRequests = new Set<string>();
  private readonly taps = new Set<CallLog>();

  /** Pass this to a stand-in (or a runtime) as its request observer. */
  readonly observe: AwsRequestObserver = (request: AwsRequest) => {
    const fn = functionOfAccessKeyId(request.accessKeyId);
    if (!fn) return;
    try {
      for (const iam of iamRequestsOf(request)) this.add({ fn, request: iam });
    } catch (error) {
      this.noteUnmapped(`${fn}: ${(error as Error).message}`);
    }
  };

  /** A call made with a function's role by something other than its code (the Lambda service: logs, X-Ray, the SQS poller). */
  add(call: FunctionCall): void {
    const key = callKey(call);
    const entry = this.calls.get(key);
    if (entry) entry.count++;
    else this.calls.set(key, { call, count: 1 });
    for (const tap of this.taps) tap.add(call);
  }

  /** A log of the calls from now on (until `untap`), besides this one: what one test made. */
  tap(): CallLog {
    const tap = new CallLog();
    this.taps.add(tap);
    return tap;
  }

  untap(tap: CallLog): void {
    this.taps.delete(tap);
  }

  get size(): number {
    return this.calls.size;
  }

  distinct(): FunctionCall[] {
    return [...this.calls.values()].map((entry) => entry.call);
  }

  /** Requests a function made that the harness could not turn into an authorization (each fails the check). */
  unmapped(): string[] {
    return [...this.unmappedRequests];
  }

  private noteUnmapped(problem: string): void {
    this.unmappedRequests.add(problem);
    for (const tap of this.taps) tap.noteUnmapped(problem);
  }
}

/**
 * This test file's calls: the integration tests' runtimes (test/support/test-runtime.ts) and the
 * chaos harness report here, and test/aws/check-file-calls.ts evaluates them after the file.
 */
export const fileCalls = new CallLog();
export const recordAwsRequest: AwsRequestObserver = fileCalls.observe;
