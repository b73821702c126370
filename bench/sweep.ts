/**
 * npm run bench:sweep — N users all due at once, refreshed by one dispatch and the refresh
 * workers of the local runtime (the same code as the Lambda fan-out, with the in-process queue),
 * against the fake Zoom answering after a configurable latency. Prints the drain rate, what each
 * refresh cost (Zoom calls, DynamoDB reads and writes, KMS calls) and the users one stack keeps
 * fresh at that rate and, in AWS, at the fan-out's default settings.
 *
 *   BENCH_SWEEP_USERS=2000  BENCH_ZOOM_LATENCY_MS=300  REFRESH_CONCURRENCY=8  npm run bench:sweep
 */
import { randomUUID } from 'node:crypto';
import { REFRESH_CONCURRENCY, REFRESH_WINDOW_SECONDS } from '../functions/contract';
import { cipherFromEnv, tokenStoreFromEnv } from '../functions/handlers/composition';
import type { StoredUser } from '../functions/domain/token-record';
import type { LocalRuntime } from '../local/runtime';
import { startScratchRuntime } from '../local/scratch-runtime';
import { dispatchMaxUsers, supportedUsers, ZOOM_ACCESS_TOKEN_LIFETIME_SECONDS } from '../lib/settings';
import { intEnv } from './numbers';

const USERS = intEnv('BENCH_SWEEP_USERS', 2000, 0);
const LATENCY_MS = intEnv('BENCH_ZOOM_LATENCY_MS', 300, 0);
const CONCURRENCY = intEnv('REFRESH_CONCURRENCY', REFRESH_CONCURRENCY.default, 0);

/** Every user stored directly (setup, not measured), with a token that is due now. */
async function seedDueUsers(runtime: LocalRuntime): Promise<string[]> {
  const store = tokenStoreFromEnv(runtime.handlerEnv);
  const cipher = cipherFromEnv(runtime.handlerEnv);
  const now = Date.now();
  const ids = Array.from({ length: USERS }, (_, i) => `sweep-${String(i).padStart(6, '0')}`);
  let next = 0;
  const seed = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const grant = runtime.fakeZoom!.authorize(`zoom-${ids[i]}`, { expiresInSeconds: 600 });
      const owner = { userId: ids[i], registrationId: randomUUID(), tokenGeneration: 1 };
      const user: StoredUser = {
        ...owner,
        version: 1,
        status: 'active',
        sealed: await cipher.seal(owner, { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope }),
        accessTokenExpiresAt: now + 600_000,
        registeredGeneration: 1,
        createdAt: now,
        updatedAt: now,
        recall: { status: 'registered' },
      };
      await store.create(user);
    }
  };
  await Promise.all(Array.from({ length: 16 }, seed));
  return ids;
}

async function main(): Promise<void> {
  const runtime = await startScratchRuntime(
    { FAKE_ZOOM_LATENCY_MS: String(LATENCY_MS), REFRESH_CONCURRENCY: String(CONCURRENCY) },
    'sweep',
  );
  try {
    console.log(
      `bench:sweep — ${USERS} users all due, fake Zoom latency ${LATENCY_MS} ms, worker concurrency ${CONCURRENCY} (batches of 10)`,
    );
    const ids = await seedDueUsers(runtime);
    const zoomBefore = runtime.fakeZoom!.stats();
    runtime.dynamo.resetCounts();
    runtime.kms.resetCounts();

    const startedAt = Date.now();
    await runtime.sweep();
    const seconds = (Date.now() - startedAt) / 1000;

    const zoom = runtime.fakeZoom!.stats();
    const refreshed = zoom.refreshOk - zoomBefore.refreshOk;
    const dynamo = runtime.dynamo.counts();
    const reads = (dynamo.GetItem ?? 0) + (dynamo.Query ?? 0) + (dynamo.BatchGetItem ?? 0);
    const writes = (dynamo.UpdateItem ?? 0) + (dynamo.PutItem ?? 0);
    const kms = runtime.kms.counts();
    const store = tokenStoreFromEnv(runtime.handlerEnv);
    const generations = await Promise.all(ids.map(async (id) => (await store.get(id))?.tokenGeneration));
    const exactlyOnce = generations.filter((generation) => generation === 2).length;
    const rate = refreshed / seconds;
    const lifetime = ZOOM_ACCESS_TOKEN_LIFETIME_SECONDS - REFRESH_WINDOW_SECONDS.default;
    const defaults = { refreshWorkerConcurrency: 10, refreshIntervalMinutes: 5, refreshWindowSeconds: REFRESH_WINDOW_SECONDS.default };

    const rows: Array<[string, string]> = [
      ['drained in', `${seconds.toFixed(1)} s`],
      ['refreshes per second', rate.toFixed(0)],
      ['refreshed exactly once', `${exactlyOnce} of ${USERS}`],
      ['Zoom calls', `${zoom.refreshCalls - zoomBefore.refreshCalls} (invalid_grant ${zoom.invalidGrant - zoomBefore.invalidGrant})`],
      ['DynamoDB reads per refresh', `${(reads / refreshed).toFixed(2)} (GetItem ${dynamo.GetItem ?? 0}, Query ${dynamo.Query ?? 0})`],
      ['DynamoDB writes per refresh', `${(writes / refreshed).toFixed(2)} (UpdateItem ${dynamo.UpdateItem ?? 0})`],
      [
        'KMS calls per 1,000 refreshes',
        `${((kms.total * 1000) / refreshed).toFixed(2)} (GenerateDataKey ${kms.GenerateDataKey}, Decrypt ${kms.Decrypt})`,
      ],
      [
        'users one local runtime keeps fresh',
        `${Math.floor(rate * lifetime).toLocaleString('en-US')} (${rate.toFixed(0)}/s × ${lifetime} s between refreshes)`,
      ],
      [
        'users one AWS stack keeps fresh (defaults)',
        `${supportedUsers(defaults).toLocaleString('en-US')} (10 workers × batches of 10; ${dispatchMaxUsers(defaults).toLocaleString('en-US')} handed out per 5-minute run)`,
      ],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
    if (exactlyOnce !== USERS || zoom.invalidGrant !== zoomBefore.invalidGrant) process.exitCode = 1;
  } finally {
    await runtime.close();
  }
}

main().catch((error: unknown) => {
  console.error('bench:sweep failed:', error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
