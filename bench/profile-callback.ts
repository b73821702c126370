/**
 * A CPU profile of the callback path through the local runtime: 6,000 callbacks over 50 users,
 * 16 concurrent. Run with
 *   node --cpu-prof --cpu-prof-dir=.bench/profile --import tsx bench/profile-callback.ts
 * and open the largest .cpuprofile in Chrome DevTools (or any profile viewer).
 */
import { Agent, get } from 'node:http';
import { startScratchRuntime } from '../local/scratch-runtime';

const REQUESTS = 6000;

async function main(): Promise<void> {
  const runtime = await startScratchRuntime({}, 'profile');
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const urls: string[] = [];
    for (let i = 0; i < 50; i++) {
      const grant = runtime.fakeZoom!.authorize(`zoom-profile-${i}`);
      const answer = await fetch(`${runtime.url}/users/profile-${i}/zoom-credential`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(grant),
      });
      const { recall_credential_id: credentialId } = (await answer.json()) as { recall_credential_id: string };
      urls.push(runtime.fakeRecall!.credentials().find((credential) => credential.id === credentialId)!.access_token_callback_url);
    }
    const once = (url: string) =>
      new Promise<void>((resolve, reject) => get(url, { agent }, (response) => response.resume().on('end', resolve)).on('error', reject));
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < REQUESTS) await once(urls[next++ % urls.length]);
      }),
    );
    console.log(`${REQUESTS} callbacks, ${(REQUESTS / ((Date.now() - started) / 1000)).toFixed(0)} req/s`);
  } finally {
    agent.destroy();
    await runtime.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
