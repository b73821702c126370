/**
 * `npm run bench`: figures for the token callback, the bot-token URLs, KMS economy and Lambda bundle sizes.
 * Prints, asserts nothing (machines are noisy). Everything runs in this one process: the
 * load generator, the local runtime's HTTP server and handlers, dynalite and the KMS stand-in
 * share one event loop, so absolute figures are a lower bound on what a Lambda does; the
 * ratios between them are the interesting part.
 *
 * Knobs (environment): BENCH_REQUESTS (3000), BENCH_CONCURRENCY (16), BENCH_WARMUP (200),
 * BENCH_USERS (200), BENCH_KMS_CALLBACKS (1000), BENCH_ROUNDS (30), BENCH_ROUND_REQUESTS (600),
 * BENCH_FLOOR_WARMUP (2000), BENCH_COLD_STARTS (21),
 * BENCH_BARE_CLIENT (unset, or `functions`).
 *
 * The two figures issue 21 holds the callback to (docs/performance.md): its cold start beside a
 * bare handler with the same three SDK clients (bench/bare-handler.ts, built by the same build),
 * imported alternately by fresh Node processes; and its warm throughput beside a bare HTTP server
 * doing one GetItem per request on the same dynalite, in alternating rounds.
 */
import { readFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { LocalRuntime } from '../local/runtime';
import { startScratchRuntime } from '../local/scratch-runtime';
import { TABLE_NAME } from '../local/dynamo';
import type { KmsCallCounts } from '../local/kms/kms-server';
import { formatBotTokenLatency, measureBotTokenLatency, summarizeBotTokenLatency, ZOOM_API_LATENCY_MS } from './bot-token-latency';
import { formatLatency, measureCallbackLatency } from './callback-latency';
import { startBareServer } from './bare-server';
import { compareColdStarts, formatColdStarts, median } from './cold-start';
import type { BundleVariant } from '../functions/contract';
import { buildEntries, buildHandlers, type BuiltBundle } from '../scripts/build-handlers';
import { cipherFromEnv, tokenStoreFromEnv } from '../functions/handlers/composition';
import { sealedTokensOf } from '../functions/domain/token-record';
import { intEnv, percentile } from './numbers';

const ROOT = resolve(__dirname, '..');

const REQUESTS = intEnv('BENCH_REQUESTS', 3000);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 16);
const WARMUP = intEnv('BENCH_WARMUP', 200);
const USERS = intEnv('BENCH_USERS', 200);
const KMS_CALLBACKS = intEnv('BENCH_KMS_CALLBACKS', 1000);
/**
 * BENCH_BARE_CLIENT=functions: the bare server's DynamoDB client made with the functions' own
 * client options (timeouts, cached middleware) instead of the SDK's defaults, to see how much of
 * the callback's standing is its SDK settings.
 */
const BARE_CLIENT_AS_FUNCTIONS = process.env.BENCH_BARE_CLIENT === 'functions';
/** Pairs of rounds in the warm comparison (callback, bare server), the order flipped every pair. */
const ROUNDS = intEnv('BENCH_ROUNDS', 30);
/**
 * Requests in each of those rounds: short rounds, because this shared machine's speed drifts by
 * a third within seconds, and two rounds run back to back see the same drift.
 */
const ROUND_REQUESTS = intEnv('BENCH_ROUND_REQUESTS', 600);

// ---------------------------------------------------------------------------------------------
// Load generation

interface LoadResult {
  label: string;
  n: number;
  failures: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
  rps: number;
  /** CPU time of this process (every thread: load, runtime, dynalite) per request, µs. */
  cpuUs: number;
}

/**
 * Runs `n` calls of `once(i)` with `concurrency` workers. `once` resolves true on success.
 * Latency is measured per call with process.hrtime.bigint(), throughput over the whole run.
 */
async function load(label: string, n: number, concurrency: number, once: (i: number) => Promise<boolean>): Promise<LoadResult> {
  const latencies = new Float64Array(n);
  let next = 0;
  let failures = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const started = process.hrtime.bigint();
      let ok = false;
      try {
        ok = await once(i);
      } catch {
        ok = false;
      }
      latencies[i] = Number(process.hrtime.bigint() - started) / 1e6;
      if (!ok) failures++;
    }
  };
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.slice().sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    label,
    n,
    failures,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean: sum / n,
    rps: n / elapsedSeconds,
    cpuUs: (cpu.user + cpu.system) / n,
  };
}

function showLoad(result: LoadResult): void {
  console.log(
    `  ${result.label.padEnd(24)} n=${result.n}  p50 ${ms(result.p50)}  p99 ${ms(result.p99)}  max ${ms(result.max)}  mean ${ms(result.mean)}  ` +
      `${result.rps.toFixed(0)} req/s  cpu ${result.cpuUs.toFixed(0)} µs/req  failures ${result.failures}`,
  );
}

const ms = (value: number) => `${value.toFixed(2)} ms`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** One GET over the keep-alive agent; resolves the status and the body. */
function getText(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolveAnswer, reject) => {
    const request = httpGet(url, { agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolveAnswer({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** One GET whose body is drained unread; resolves the status. */
function getStatus(url: string, agent: Agent): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const request = httpGet(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => resolveStatus(response.statusCode ?? 0));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Users

async function register(runtime: LocalRuntime, userId: string): Promise<{ callbackUrl: string; accessToken: string }> {
  const grant = runtime.fakeZoom!.authorize(`zoom-${userId}`);
  const answer = await fetch(`${runtime.url}/users/${encodeURIComponent(userId)}/zoom-credential`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(grant),
  });
  const body = await answer.text();
  if (answer.status !== 201 && answer.status !== 200) throw new Error(`registering ${userId}: HTTP ${answer.status} ${body.slice(0, 200)}`);
  const credential = runtime
    .fakeRecall!.credentials()
    .find((c) => new URL(c.access_token_callback_url).searchParams.get('user_id') === userId);
  if (!credential) throw new Error(`registering ${userId}: fake Recall holds no credential (recall status: ${body.slice(0, 200)})`);
  return { callbackUrl: credential.access_token_callback_url, accessToken: grant.access_token };
}

function showKms(label: string, counts: KmsCallCounts, per?: { n: number; unit: string }): string {
  const scale = per ? 1000 / per.n : 1;
  const f = (value: number) => (per ? (value * scale).toFixed((value * scale) % 1 ? 2 : 0) : String(value));
  const line = `total ${f(counts.total)} (GenerateDataKey ${f(counts.GenerateDataKey)}, Decrypt ${f(counts.Decrypt)}, Encrypt ${f(counts.Encrypt)})`;
  console.log(`  ${label.padEnd(44)} ${line}${per ? ` per 1,000 ${per.unit}` : ''}`);
  return line;
}

// ---------------------------------------------------------------------------------------------
// Bundles

interface BundleResult {
  entry: string;
  variant: BundleVariant;
  /** Where the bundle was written, for the cold-start measurement. */
  file: string;
  bytes: number;
  gzip: number;
  mapBytes: number;
  inputs: number;
  topFiles: Array<[string, number]>;
  topPackages: Array<[string, number]>;
}

/** `node_modules/@scope/name/…` → `@scope/name`; project files → `(project) functions/…`. */
function packageOf(path: string): string {
  const parts = path.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return `(project) ${parts.slice(0, 2).join('/')}`;
  const name = parts[at + 1];
  return name.startsWith('@') ? `${name}/${parts[at + 2]}` : name;
}

function shortPath(path: string): string {
  return path.replace(/^.*node_modules\//, '~/');
}

/** A built bundle with what is in it, by file and by package. */
function describeBundle(built: BuiltBundle): BundleResult {
  const file = join(built.dir, 'index.mjs');
  const files = Object.entries(built.inputs);
  const byPackage = new Map<string, number>();
  for (const [path, bytes] of files) byPackage.set(packageOf(path), (byPackage.get(packageOf(path)) ?? 0) + bytes);
  const top = <T>(entries: Array<[T, number]>) => entries.sort((a, b) => b[1] - a[1]).slice(0, 5);
  return {
    entry: built.entry,
    variant: built.variant,
    file,
    bytes: built.bytes,
    gzip: gzipSync(readFileSync(file), { level: 9 }).length,
    mapBytes: built.mapBytes,
    inputs: files.length,
    topFiles: top(files).map(([path, bytes]) => [shortPath(relative(ROOT, path) || path), bytes]),
    topPackages: top([...byPackage.entries()]),
  };
}

/** The deployed bundles, from the one build (scripts/build-handlers.ts), with what is in them. */
function buildBundles(outdir: string): BundleResult[] {
  return buildHandlers(outdir).map(describeBundle);
}

/**
 * The bare baseline handlers, built as the functions are (same build, same options): the issue's
 * floor with three SDK clients (bench/bare-handler.ts), and the one with every client the callback
 * makes, Secrets Manager included (bench/bare-handler-secrets.ts).
 */
function buildBareHandlers(outdir: string): { threeClients: BundleResult; callbackClients: BundleResult } {
  const [threeClients, callbackClients] = buildEntries(
    {
      'bare-handler': join(ROOT, 'bench', 'bare-handler.ts'),
      'bare-handler-secrets': join(ROOT, 'bench', 'bare-handler-secrets.ts'),
    },
    'plain',
    outdir,
  );
  return { threeClients: describeBundle(threeClients), callbackClients: describeBundle(callbackClients) };
}

const COLD_STARTS = intEnv('BENCH_COLD_STARTS', 21);

/**
 * Requests each side gets before the comparison starts (the callback's path is long, and
 * JIT-compiled late), and before each of its rounds.
 */
const FLOOR_WARMUP = intEnv('BENCH_FLOOR_WARMUP', 2000);
const ROUND_WARMUP = 100;

/**
 * The callback's warm throughput beside a bare HTTP server doing one GetItem per request on the
 * same dynalite: ROUNDS pairs of rounds, the order flipped every pair; the ratio is the median over
 * the pairs of callback req/s ÷ bare req/s (a busy moment of a shared machine spoils a pair, not
 * the figure). CPU time per request is printed beside it: less disturbed by other processes.
 */
async function compareWithBareServer(dynamoEndpoint: string, callbackUrls: string[], userIds: string[], agent: Agent) {
  const bare = await startBareServer(dynamoEndpoint, {
    maxSockets: CONCURRENCY,
    client: BARE_CLIENT_AS_FUNCTIONS ? 'functions' : 'sdk-defaults',
  });
  try {
    const bareUrls = userIds.map((id) => `${bare.url}/?user_id=${id}`);
    const run = (label: string, list: string[], n: number) =>
      load(label, n, CONCURRENCY, async (i) => (await getStatus(list[i % list.length], agent)) === 200);
    await run('warm-up', callbackUrls, FLOOR_WARMUP);
    await run('warm-up', bareUrls, FLOOR_WARMUP);
    const round = async (label: string, list: string[]) => {
      await run('warm-up', list, ROUND_WARMUP);
      return run(label, list, ROUND_REQUESTS);
    };
    const pairs: Array<{ callback: LoadResult; bare: LoadResult }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2) {
        const bareRound = await round('bare GetItem server', bareUrls);
        pairs.push({ bare: bareRound, callback: await round('callback', callbackUrls) });
      } else {
        const callbackRound = await round('callback', callbackUrls);
        pairs.push({ callback: callbackRound, bare: await round('bare GetItem server', bareUrls) });
      }
    }
    const ratios = pairs.map((pair) => pair.callback.rps / pair.bare.rps);
    const ratio = median(ratios);
    const cpu = { callback: median(pairs.map((pair) => pair.callback.cpuUs)), bare: median(pairs.map((pair) => pair.bare.cpuUs)) };
    const rps = { callback: median(pairs.map((pair) => pair.callback.rps)), bare: median(pairs.map((pair) => pair.bare.rps)) };
    console.log(`  each pair, callback ÷ bare: ${ratios.map((value) => value.toFixed(2)).join(' ')}`);
    console.log(`  medians: callback ${rps.callback.toFixed(0)} req/s, bare server ${rps.bare.toFixed(0)} req/s`);
    console.log(`  callback req/s ÷ bare server req/s: x${ratio.toFixed(2)} (median of ${ROUNDS} pairs)`);
    console.log(
      `  CPU per request (medians): callback ${cpu.callback.toFixed(0)} µs, bare server ${cpu.bare.toFixed(0)} µs: bare ÷ callback x${(cpu.bare / cpu.callback).toFixed(2)}`,
    );
    return { ratio, cpuRatio: cpu.bare / cpu.callback, callbackRps: rps.callback, bareRps: rps.bare };
  } finally {
    await bare.close();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const began = Date.now();
  console.log(`zoom-token-vault bench — node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? '?'})`);
  console.log(
    `requests ${REQUESTS}, concurrency ${CONCURRENCY}, warm-up ${WARMUP}, users ${USERS}, KMS round ${KMS_CALLBACKS} callbacks\n`,
  );

  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let runtime: LocalRuntime | undefined;
  let dynamo: DynamoDBClient | undefined;
  const summary: Array<[string, string]> = [];
  const outdir = join(tmpdir(), 'zoom-token-vault-bench-out');
  const bundles: BundleResult[] = [];

  try {
    // 0. The Lambda bundles, built first so a cold start of the real bundle can be measured below,
    // and the bare handler it is measured against, by the same build.
    bundles.push(...buildBundles(outdir));
    const bareHandlers = buildBareHandlers(`${outdir}-baseline`);

    // 1. The local runtime, fresh.
    let t = Date.now();
    runtime = await startScratchRuntime({}, 'bench');
    console.log(`runtime started in ${Date.now() - t} ms at ${runtime.url} (data ${runtime.dataDir})`);

    // 2. One user and its signed callback URL.
    t = Date.now();
    const userId = 'bench-user';
    const { callbackUrl, accessToken } = await register(runtime, userId);
    console.log(`registered ${userId} in ${Date.now() - t} ms (first registration: cold handlers, first data key)`);
    const probe = await getText(callbackUrl, agent);
    if (probe.status !== 200 || probe.body !== accessToken) {
      console.log(
        `  WARNING: callback probe answered HTTP ${probe.status}${probe.status === 200 ? ', body is not the registered token' : ''}`,
      );
    }

    // 3a. The callback over HTTP.
    console.log(`\n[1] callback over HTTP vs bare DynamoDB GetItem (keep-alive, concurrency ${CONCURRENCY})`);
    await load('warm-up', WARMUP, CONCURRENCY, async () => (await getStatus(callbackUrl, agent)) === 200);
    const callback = await load('GET /zoom/token', REQUESTS, CONCURRENCY, async () => (await getStatus(callbackUrl, agent)) === 200);
    showLoad(callback);

    // 3b. A bare GetItem of the same item against the same dynalite.
    dynamo = new DynamoDBClient({
      endpoint: runtime.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) },
    });
    const client = dynamo;
    const getItem = async () => {
      const answer = await client.send(new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: userId } } }));
      return answer.Item !== undefined;
    };
    await load('warm-up', WARMUP, CONCURRENCY, getItem);
    const storage = await load('DynamoDB GetItem', REQUESTS, CONCURRENCY, getItem);
    showLoad(storage);
    const p50Ratio = callback.p50 / storage.p50;
    const rpsRatio = callback.rps / storage.rps;
    console.log(
      `  callback/GetItem: p50 x${p50Ratio.toFixed(2)}, p99 x${(callback.p99 / storage.p99).toFixed(2)}, req/s x${rpsRatio.toFixed(2)}`,
    );
    console.log(`  callback overhead over its storage read at p50: ${ms(callback.p50 - storage.p50)}`);

    // 4. KMS economy.
    console.log(`\n[2] KMS economy (${USERS} users)`);
    runtime.kms.resetCounts();
    t = Date.now();
    const users: string[] = Array.from({ length: USERS }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
    const urls: string[] = new Array(USERS);
    let index = 0;
    const registrar = async () => {
      for (let i = index++; i < USERS; i = index++) urls[i] = (await register(runtime!, users[i])).callbackUrl;
    };
    await Promise.all(Array.from({ length: Math.min(8, USERS) }, registrar));
    const registerSeconds = (Date.now() - t) / 1000;
    console.log(
      `  registered ${USERS} users in ${registerSeconds.toFixed(1)} s (${(USERS / registerSeconds).toFixed(0)}/s, concurrency 8; each includes Recall's validating callback)`,
    );
    const registrationKms = runtime.kms.counts();
    showKms(`registration of ${USERS} users`, registrationKms);

    runtime.kms.resetCounts();
    const spread = await load(
      'round-robin callbacks',
      KMS_CALLBACKS,
      CONCURRENCY,
      async (i) => (await getStatus(urls[i % USERS], agent)) === 200,
    );
    showLoad(spread);
    const warmKms = showKms('warm callback container', runtime.kms.counts(), { n: KMS_CALLBACKS, unit: 'callbacks' });
    summary.push(['KMS / 1,000 callbacks (warm)', warmKms]);

    // A cold container: fresh adapters built the way a handler builds them at module scope
    // (from the environment the runtime gave its handlers), reading the same users round-robin.
    const coldStore = tokenStoreFromEnv(runtime.handlerEnv);
    const coldCipher = cipherFromEnv(runtime.handlerEnv);
    const dataKeys = new Set<string>();
    runtime.kms.resetCounts();
    const cold = await load('cold container reads', KMS_CALLBACKS, CONCURRENCY, async (i) => {
      const user = await coldStore.get(users[i % USERS]);
      if (!user) return false;
      const sealed = sealedTokensOf(user);
      dataKeys.add(Buffer.from(sealed.encryptedDataKey).toString('base64'));
      const tokens = await coldCipher.open(user, sealed);
      return tokens.accessToken.length > 0;
    });
    showLoad(cold);
    const coldKms = showKms('cold container (fresh cipher, get+open)', runtime.kms.counts(), { n: KMS_CALLBACKS, unit: 'reads' });
    console.log(
      `  distinct data keys across the ${USERS} records: ${dataKeys.size} (a cold reader pays one Decrypt per data key it meets)`,
    );
    summary.push(['KMS / 1,000 reads (cold container)', coldKms]);
    summary.push([
      `KMS for ${USERS} registrations`,
      `total ${registrationKms.total} (GenerateDataKey ${registrationKms.GenerateDataKey}, Decrypt ${registrationKms.Decrypt})`,
    ]);

    // The callback against the least any such endpoint does: a bare node HTTP server answering
    // each request with one GetItem on its own dynalite, same machine, same run, same load.
    console.log(
      `\n[2a] callback vs a bare HTTP server doing one GetItem per request on the same dynalite (${USERS} users round robin, concurrency ${CONCURRENCY}, ${ROUNDS} pairs of ${ROUND_REQUESTS}-request rounds, after ${FLOOR_WARMUP} warm-up requests each; ` +
        `the bare server's client: ${BARE_CLIENT_AS_FUNCTIONS ? "the functions' options" : "the SDK's defaults"})`,
    );
    const warm = await compareWithBareServer(runtime.dynamoEndpoint, urls, users, agent);
    summary.push([
      'warm: callback ÷ bare HTTP+GetItem server (req/s)',
      `x${warm.ratio.toFixed(2)} (median of ${ROUNDS} pairs; ${warm.callbackRps.toFixed(0)} vs ${warm.bareRps.toFixed(0)} req/s; CPU per request x${warm.cpuRatio.toFixed(2)})`,
    ]);

    // Cold start: the minified callback bundle imported by a fresh Node process (module-scope init:
    // config, clients, Powertools), then its first invocation (keys, GetItem, KMS Decrypt); beside
    // the bare handler with the same three SDK clients, taking turns.
    console.log(
      `\n[2b] callback cold start beside a bare handler with the same SDK clients (fresh node processes, ${COLD_STARTS} runs each, alternating)`,
    );
    const callbackBundle = bundles.find((b) => b.entry === 'callback' && b.variant === 'plain')!;
    const floors: Array<[string, BundleResult]> = [
      ['bare handler (DynamoDB, KMS, SQS)', bareHandlers.threeClients],
      ['bare handler (+ Secrets Manager)', bareHandlers.callbackClients],
    ];
    for (const [label, floor] of floors) {
      const coldStarts = await compareColdStarts(callbackBundle.file, floor.file, COLD_STARTS, callbackUrl, runtime.handlerEnv);
      const bytesRatio = callbackBundle.bytes / floor.bytes;
      console.log(`  ${label.padEnd(34)} ${kb(floor.bytes)}  ${formatColdStarts(coldStarts.baseline)}`);
      console.log(`  ${'callback'.padEnd(34)} ${kb(callbackBundle.bytes)}  ${formatColdStarts(coldStarts.subject)}`);
      console.log(
        `  callback ÷ ${label}: import x${coldStarts.importRatio.toFixed(2)} (median of ${COLD_STARTS} back-to-back pairs), bundle x${bytesRatio.toFixed(2)}`,
      );
      summary.push(
        [`callback cold start (beside the ${label})`, formatColdStarts(coldStarts.subject)],
        [`${label} cold start`, formatColdStarts(coldStarts.baseline)],
        [
          `cold: callback ÷ ${label}`,
          `import x${coldStarts.importRatio.toFixed(2)}, bundle x${bytesRatio.toFixed(2)} (${kb(callbackBundle.bytes)} vs ${kb(floor.bytes)})`,
        ],
      );
    }

    summary.unshift(
      ['callback p50 / p99 / max', `${ms(callback.p50)} / ${ms(callback.p99)} / ${ms(callback.max)}`],
      ['callback throughput', `${callback.rps.toFixed(0)} req/s (failures ${callback.failures}/${callback.n})`],
      ['GetItem p50 / p99 / max', `${ms(storage.p50)} / ${ms(storage.p99)} / ${ms(storage.max)}`],
      ['GetItem throughput', `${storage.rps.toFixed(0)} req/s (failures ${storage.failures}/${storage.n})`],
      ['callback/GetItem', `p50 x${p50Ratio.toFixed(2)}, req/s x${rpsRatio.toFixed(2)}`],
    );
  } finally {
    agent.destroy();
    dynamo?.destroy();
    await runtime?.close();
  }

  // 5. The callback's answer time when a token needs refreshing (Zoom slow, hanging; adaptive policy).
  console.log('\n[4] callback answer times while a refresh is needed (fresh runtime per row, 40 users, 8 concurrent)');
  const latency = await measureCallbackLatency();
  console.log(formatLatency(latency));
  for (const row of latency)
    summary.push([
      `callback, ${row.scenario}, Zoom ${row.zoom}`,
      `${row.answers}, p50 ${ms(row.p50)}, p99 ${ms(row.p99)}, max ${ms(row.max)}`,
    ]);

  // 5b. The bot-token URL's answer time, beside Zoom's API asked directly.
  console.log(`\n[5] bot-token URL answer time, Zoom's API at ${ZOOM_API_LATENCY_MS} ms, beside the same mint asked of Zoom directly`);
  const botRows = await measureBotTokenLatency();
  console.log(formatBotTokenLatency(botRows));
  const bot = summarizeBotTokenLatency(botRows);
  summary.push([
    `bot-token URL p50 / p99 (Zoom API ${ZOOM_API_LATENCY_MS} ms)`,
    `${ms(bot.bot.p50)} / ${ms(bot.bot.p99)} (Zoom directly: ${ms(bot.direct.p50)} / ${ms(bot.direct.p99)})`,
  ]);

  // 6. Bundle sizes.
  console.log('\n[3] Lambda bundles (scripts/build-handlers.ts, contract BUNDLING: esm, minify, node22, bundle all, sourcemap external)');
  for (const b of bundles) {
    console.log(
      `  ${b.entry}.ts → ${b.variant}/index.mjs ${kb(b.bytes)} minified, ${kb(b.gzip)} gzip (map ${kb(b.mapBytes)}), ${b.inputs} input files`,
    );
    console.log(`    top packages: ${b.topPackages.map(([name, bytes]) => `${name} ${kb(bytes)}`).join(', ')}`);
    console.log(`    top files:    ${b.topFiles.map(([path, bytes]) => `${path} ${kb(bytes)}`).join(', ')}`);
    summary.push([`bundle ${b.entry} (${b.variant})`, `${kb(b.bytes)} min, ${kb(b.gzip)} gzip`]);
  }

  // 7. Summary.
  console.log('\nsummary');
  const width = Math.max(...summary.map(([name]) => name.length));
  for (const [name, value] of summary) console.log(`  ${name.padEnd(width)}  ${value}`);
  console.log(`\ntotal ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
