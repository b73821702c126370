/**
 * The callback's answer time when a token needs refreshing, through the local runtime over
 * HTTP, with the fake Zoom answering in 300 ms, 1 s, 10 s or not at all:
 * - a stored token inside the serve margin that Recall still accepts (200 s left): answered at
 *   once, the refresh handed to the workers;
 * - an idle user under the adaptive policy (its token long expired): the answer waits for the
 *   workers' refresh, at most the answer budget;
 * - a token Recall would reject with Zoom not answering: 503 within the answer budget.
 * Part of `npm run bench`; also runnable alone: `npx tsx bench/callback-latency.ts`.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CALLBACK_PATH } from '../functions/contract';
import { parseKeyring, signCallbackUrl } from '../functions/domain/signing';
import type { StoredUser } from '../functions/domain/token-record';
import { cipherFromEnv, tokenStoreFromEnv } from '../functions/handlers/composition';
import { startScratchRuntime } from '../local/scratch-runtime';
import { percentile } from './numbers';

export interface LatencyRow {
  scenario: string;
  zoom: string;
  answers: string;
  p50: number;
  p99: number;
  max: number;
}

interface Scenario {
  scenario: string;
  zoom: string;
  /** Fake Zoom latency (ms), or 'hang': Zoom holds every request. */
  zoomLatency: number | 'hang';
  /** Access-token life left when the callback comes (ms; negative: expired). */
  tokenLifeMs: number;
  policy: 'proactive' | 'adaptive';
}

const SCENARIOS: Scenario[] = [
  { scenario: 'token inside the margin (200 s left)', zoom: '300 ms', zoomLatency: 300, tokenLifeMs: 200_000, policy: 'proactive' },
  { scenario: 'token inside the margin (200 s left)', zoom: '10 s', zoomLatency: 10_000, tokenLifeMs: 200_000, policy: 'proactive' },
  { scenario: 'token inside the margin (200 s left)', zoom: 'never', zoomLatency: 'hang', tokenLifeMs: 200_000, policy: 'proactive' },
  { scenario: 'idle user, adaptive policy (token expired)', zoom: '300 ms', zoomLatency: 300, tokenLifeMs: -3_600_000, policy: 'adaptive' },
  { scenario: 'idle user, adaptive policy (token expired)', zoom: '1 s', zoomLatency: 1_000, tokenLifeMs: -3_600_000, policy: 'adaptive' },
  { scenario: 'token Recall rejects (60 s left)', zoom: 'never', zoomLatency: 'hang', tokenLifeMs: 60_000, policy: 'proactive' },
];

const USERS = 40;
const CONCURRENCY = 8;

async function runScenario(scenario: Scenario): Promise<LatencyRow> {
  const runtime = await startScratchRuntime(
    { REFRESH_POLICY: scenario.policy, FAKE_ZOOM_LATENCY_MS: String(scenario.zoomLatency === 'hang' ? 0 : scenario.zoomLatency) },
    'latency',
  );
  const held = scenario.zoomLatency === 'hang' ? runtime.fakeZoom!.hold() : undefined;
  try {
    const store = tokenStoreFromEnv(runtime.handlerEnv);
    const cipher = cipherFromEnv(runtime.handlerEnv);
    const keyring = parseKeyring(await readFile(join(runtime.dataDir, 'signing-keys.json'), 'utf8'));
    const urls: string[] = [];
    const now = Date.now();
    for (let i = 0; i < USERS; i++) {
      const userId = `latency-${i}`;
      const grant = runtime.fakeZoom!.authorize(`zoom-${userId}`);
      const owner = { userId, registrationId: randomUUID(), tokenGeneration: 1 };
      const user: StoredUser = {
        ...owner,
        version: 1,
        status: 'active',
        sealed: await cipher.seal(owner, { accessToken: grant.access_token, refreshToken: grant.refresh_token }),
        accessTokenExpiresAt: now + scenario.tokenLifeMs,
        registeredGeneration: 1,
        createdAt: now,
        updatedAt: now,
        recall: { status: 'registered' },
      };
      await store.create(user);
      urls.push(signCallbackUrl(`${runtime.url}${CALLBACK_PATH}`, user, keyring).toString());
    }
    const times: number[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const caller = async () => {
      for (let i = next++; i < urls.length; i = next++) {
        const began = performance.now();
        const response = await fetch(urls[i]);
        await response.text();
        times.push(performance.now() - began);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, caller));
    times.sort((a, b) => a - b);
    const answers = [...statuses].map(([status, count]) => `${count}×${status}`).join(' ');
    return {
      scenario: scenario.scenario,
      zoom: scenario.zoom,
      answers,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: times.at(-1)!,
    };
  } finally {
    held?.release();
    await runtime.close();
  }
}

export async function measureCallbackLatency(): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  for (const scenario of SCENARIOS) rows.push(await runScenario(scenario));
  return rows;
}

export function formatLatency(rows: LatencyRow[]): string {
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const lines = rows.map(
    (row) =>
      `  ${row.scenario.padEnd(44)} Zoom ${row.zoom.padEnd(7)} ${row.answers.padEnd(10)} p50 ${ms(row.p50).padStart(8)}  p99 ${ms(row.p99).padStart(8)}  max ${ms(row.max).padStart(8)}`,
  );
  return lines.join('\n');
}

if (require.main === module) {
  measureCallbackLatency().then(
    (rows) => console.log(`callback answer times (${USERS} users, ${CONCURRENCY} concurrent)\n${formatLatency(rows)}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
