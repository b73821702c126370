/**
 * Where the callback's warm time goes, through the local runtime: 50 users registered, 1,000
 * callbacks to warm up, then a CPU profile of 6,000 more (16 concurrent) and nothing else. Run
 *   npx tsx bench/profile-callback.ts [--bare]
 * `--bare` profiles the bench's baseline instead: a bare HTTP server doing one GetItem per request
 * on the same dynalite. Prints the sampled time by owner (the innermost frame of the project's,
 * the AWS SDK's, dynalite's, …: node's own HTTP and stream code counts for whoever called it)
 * per request, and writes the profile to .bench/profile/ for Chrome DevTools or any viewer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import type { LocalRuntime } from '../local/runtime';
import { startScratchRuntime } from '../local/scratch-runtime';
import { startBareServer } from './bare-server';

const REQUESTS = 6000;
const WARMUP = 1000;
const ROOT = resolve(__dirname, '..');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Who a frame belongs to: a package of note, or a project file; undefined for node's own code. */
function ownerOf(url: string): string | undefined {
  if (/node_modules\/(dynalite|[\w-]*level[\w-]*|memdown|lazy|big\.js|buffer-crc32)\//.test(url)) return 'dynalite (the DynamoDB stand-in)';
  const pkg = /node_modules\/((@[\w.-]+\/)?[\w.-]+)\//.exec(url)?.[1];
  if (pkg?.startsWith('@smithy/') || pkg?.startsWith('@aws-sdk/') || pkg?.startsWith('@aws/')) return 'AWS SDK';
  if (pkg) return pkg;
  if (url.startsWith('file://') || url.startsWith('/')) return url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
  return undefined;
}

/** Sampled time per owner (µs), node's own frames charged to the innermost owned caller. */
export function timeByOwner(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const owners = new Map<string, number>();
  profile.samples.forEach((sample, i) => {
    let owner: string | undefined;
    const leaf = byId.get(sample)!.callFrame.functionName;
    if (leaf === '(garbage collector)' || leaf === '(idle)' || leaf === '(program)') owner = leaf;
    for (let id: number | undefined = sample; !owner && id !== undefined; id = parent.get(id)) owner = ownerOf(byId.get(id)!.callFrame.url);
    owner ??= 'node (HTTP, streams, timers: no caller of ours on the stack)';
    owners.set(owner, (owners.get(owner) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return owners;
}

async function registerUsers(runtime: LocalRuntime, count: number): Promise<Array<{ userId: string; callbackUrl: string }>> {
  const users: Array<{ userId: string; callbackUrl: string }> = [];
  for (let i = 0; i < count; i++) {
    const grant = runtime.fakeZoom!.authorize(`zoom-profile-${i}`);
    const answer = await fetch(`${runtime.url}/users/profile-${i}/zoom-credential`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(grant),
    });
    const { recall_credential_id: credentialId } = (await answer.json()) as { recall_credential_id: string };
    const credential = runtime.fakeRecall!.credentials().find((c) => c.id === credentialId)!;
    users.push({ userId: `profile-${i}`, callbackUrl: credential.access_token_callback_url });
  }
  return users;
}

async function main(): Promise<void> {
  const bare = process.argv.includes('--bare');
  const runtime = await startScratchRuntime({}, 'profile');
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const baseline = bare ? await startBareServer(runtime.dynamoEndpoint, { maxSockets: 16, client: 'sdk-defaults' }) : undefined;
  try {
    const users = await registerUsers(runtime, 50);
    const urls = users.map((user) => (baseline ? `${baseline.url}/?user_id=${user.userId}` : user.callbackUrl));
    const once = (url: string) =>
      new Promise<void>((done, reject) => get(url, { agent }, (response) => response.resume().on('end', done)).on('error', reject));
    const run = async (count: number) => {
      let next = 0;
      const workers = Array.from({ length: 16 }, async () => {
        while (next < count) await once(urls[next++ % urls.length]);
      });
      await Promise.all(workers);
    };
    await run(WARMUP);
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const started = Date.now();
    await run(REQUESTS);
    const seconds = (Date.now() - started) / 1000;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    const dir = join(ROOT, '.bench', 'profile');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${bare ? 'bare' : 'callback'}-${Date.now()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const owners = [...timeByOwner(profile as Profile)].sort((a, b) => b[1] - a[1]);
    const total = owners.reduce((sum, [, us]) => sum + us, 0);
    console.log(
      `${REQUESTS} ${bare ? 'bare GetItem requests' : 'callbacks'}, ${(REQUESTS / seconds).toFixed(0)} req/s; profile in ${file}`,
    );
    console.log(`sampled ${(total / REQUESTS).toFixed(0)} µs per request:`);
    for (const [owner, us] of owners.slice(0, 25)) {
      console.log(`  ${(us / REQUESTS).toFixed(1).padStart(7)} µs  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${owner}`);
    }
  } finally {
    agent.destroy();
    await baseline?.close();
    await runtime.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
