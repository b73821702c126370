/**
 * A local runtime on a fresh data directory, for a test file or a benchmark: a free port, no
 * dispatcher or health-check interval (the caller sweeps by hand), quiet logs. `close()` also
 * removes the directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from './runtime';

export async function startScratchRuntime(
  env: Record<string, string> = {},
  purpose = 'scratch',
  options: Pick<LocalRuntimeOptions, 'onAwsRequest'> = {},
): Promise<LocalRuntime> {
  const dataDir = await mkdtemp(join(tmpdir(), `zoom-token-vault-${purpose}-`));
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
      ...options,
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
