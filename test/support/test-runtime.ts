/**
 * The local runtime for an integration test file: a fresh data directory, a free port, no
 * refresher interval (tests sweep by hand), quiet logs. `close()` also removes the directory.
 * One per test file: the handlers read their configuration once, at import.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime';

export async function startTestRuntime(env: Record<string, string> = {}): Promise<LocalRuntime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'zoom-token-vault-test-'));
  try {
    const runtime = await startLocalRuntime({
      env: {
        DATA_DIR: dataDir,
        PORT: '0',
        REFRESH_INTERVAL_SECONDS: '0',
        RECALL_HEALTH_INTERVAL_SECONDS: '0',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        ...env,
      },
    });
    return {
      ...runtime,
      close: async () => {
        await runtime.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
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
