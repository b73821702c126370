/**
 * The local runtime for an integration test file (local/scratch-runtime.ts: a fresh data
 * directory, a free port, no intervals, quiet logs; `close()` removes the directory), and admin
 * calls against it.
 */
import type { LocalRuntime } from '../../local/runtime';
import { startScratchRuntime } from '../../local/scratch-runtime';
import { recordAwsRequest } from '../aws/recorder';

/** Its functions' AWS calls are recorded, and checked against their roles after the file (test/aws/check-file-calls.ts). */
export function startTestRuntime(env: Record<string, string> = {}): Promise<LocalRuntime> {
  return startScratchRuntime(env, 'test', { onAwsRequest: recordAwsRequest });
}

/** An admin API call with the runtime's bearer token; the JSON answer parsed. */
export async function adminCall(
  runtime: LocalRuntime,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${runtime.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}
