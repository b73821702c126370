/**
 * The bot-token URL's answer time, through the local runtime over HTTP, with the fake Zoom's
 * REST API answering every mint in 100 ms (a real Zoom's round trip). Beside it, in the same run
 * and alternating with it, the baseline: the same mint asked of the fake Zoom directly with the
 * user's access token, which any minting endpoint pays at least. The difference is what the
 * vault adds: the signature, the record's read and decryption, the answer.
 * Part of `npm run bench`; also runnable alone: `npx tsx bench/bot-token-latency.ts`.
 *
 * Knobs (environment): BENCH_BOT_REQUESTS (300 per round, two rounds each), BENCH_BOT_CONCURRENCY (8).
 */
import { Agent, get as httpGet } from 'node:http';
import { startScratchRuntime } from '../local/scratch-runtime';
import { intEnv, percentile } from './numbers';

export const ZOOM_API_LATENCY_MS = 100;

export interface BotTokenLatencyRow {
  label: string;
  n: number;
  failures: number;
  p50: number;
  p99: number;
  max: number;
}

/** One GET; resolves whether it answered 200 with a body. */
function getOk(url: string, agent: Agent, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { agent, headers }, (response) => {
      let size = 0;
      response.on('data', (chunk: Buffer) => (size += chunk.length));
      response.on('end', () => resolve(response.statusCode === 200 && size > 0));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function timed(label: string, n: number, concurrency: number, once: () => Promise<boolean>): Promise<BotTokenLatencyRow> {
  const times: number[] = [];
  let failures = 0;
  let started = 0;
  const worker = async () => {
    while (started++ < n) {
      const t0 = process.hrtime.bigint();
      const ok = await once().catch(() => false);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!ok) failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  times.sort((a, b) => a - b);
  return { label, n, failures, p50: percentile(times, 50), p99: percentile(times, 99), max: times[times.length - 1] };
}

/** Two rounds each of the bot-token URL and the direct mint, alternating, on one runtime. */
export async function measureBotTokenLatency(): Promise<BotTokenLatencyRow[]> {
  const requests = intEnv('BENCH_BOT_REQUESTS', 300);
  const concurrency = intEnv('BENCH_BOT_CONCURRENCY', 8);
  const runtime = await startScratchRuntime({ FAKE_ZOOM_API_LATENCY_MS: String(ZOOM_API_LATENCY_MS) }, 'bot-latency');
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const zoom = runtime.fakeZoom!;
    const grant = zoom.authorize('zoom-bench-bot');
    const meetingId = zoom.createMeeting('zoom-bench-bot');
    const headers = { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' };
    const put = await fetch(`${runtime.url}/users/bench-bot/zoom-credential`, { method: 'PUT', headers, body: JSON.stringify(grant) });
    if (put.status !== 201) throw new Error(`registering: HTTP ${put.status}`);
    const issued = await fetch(`${runtime.url}/users/bench-bot/zoom-credential/bot-token-urls`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ meeting_id: meetingId }),
    });
    const botUrl = ((await issued.json()) as { zoom: { obf_token_url: string } }).zoom.obf_token_url;
    const directUrl = `${zoom.apiBaseUrl}/users/me/token?type=onbehalf&meeting_id=${meetingId}`;
    const bearer = { authorization: `Bearer ${grant.access_token}` };
    const bot = () => timed('bot-token URL (GET /zoom/obf)', requests, concurrency, () => getOk(botUrl, agent));
    const direct = () => timed("baseline: Zoom's API directly", requests, concurrency, () => getOk(directUrl, agent, bearer));
    // Warm up both paths (cold handlers, the first data key), then alternate.
    await timed('warm-up', 20, concurrency, () => getOk(botUrl, agent));
    await timed('warm-up', 20, concurrency, () => getOk(directUrl, agent, bearer));
    return [await bot(), await direct(), await bot(), await direct()];
  } finally {
    agent.destroy();
    await runtime.close();
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

export function formatBotTokenLatency(rows: BotTokenLatencyRow[]): string {
  const lines = rows.map(
    (row) => `  ${row.label.padEnd(32)} n=${row.n}  p50 ${ms(row.p50)}  p99 ${ms(row.p99)}  max ${ms(row.max)}  failures ${row.failures}`,
  );
  const { bot, direct } = summarizeBotTokenLatency(rows);
  lines.push(`  the vault adds: p50 +${ms(bot.p50 - direct.p50)}, p99 +${ms(bot.p99 - direct.p99)} (rounds averaged)`);
  return lines.join('\n');
}

/** Each side's two rounds averaged. */
export function summarizeBotTokenLatency(rows: BotTokenLatencyRow[]): {
  bot: { p50: number; p99: number };
  direct: { p50: number; p99: number };
} {
  const mean = (label: string, key: 'p50' | 'p99') => {
    const picked = rows.filter((row) => row.label.startsWith(label));
    return picked.reduce((sum, row) => sum + row[key], 0) / picked.length;
  };
  return {
    bot: { p50: mean('bot-token', 'p50'), p99: mean('bot-token', 'p99') },
    direct: { p50: mean('baseline', 'p50'), p99: mean('baseline', 'p99') },
  };
}

if (require.main === module) {
  measureBotTokenLatency().then(
    (rows) => console.log(formatBotTokenLatency(rows)),
    (error: unknown) => {
      console.error('bench failed:', error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
