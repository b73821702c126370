/**
 * Starts the fake Zoom token endpoint and the fake Recall API on loopback for local demos.
 *
 *   npx tsx local/fakes/start-fakes.ts      (or: npm run fakes)
 *
 * Ports: FAKE_ZOOM_PORT (default 4002), FAKE_RECALL_PORT (default 4001). Fake Recall validates callback
 * tokens against this fake Zoom. Prints the env lines the service needs. Ctrl-C stops both.
 *
 * Fake-only route, to mint a grant as if a user had completed Zoom's OAuth flow:
 *
 *   curl -X POST 'http://127.0.0.1:4002/fake/authorize?zoom_user_id=demoUser1'
 *   (optional &expires_in=SECONDS for the access token lifetime)
 *
 * It answers Zoom's token JSON (access_token, refresh_token, expires_in, ...). The credentials printed
 * below are fixed fake values, not secrets; nothing else (no token) is ever printed.
 *
 * RECALL_VERIFICATION_SECRET (Recall's whsec_… workspace secret): the fake Recall signs its calls with it,
 * as the service's RECALL_VERIFICATION_SECRET expects; `POST /fake/call` GETs any URL as Recall does.
 */
import { DEFAULT_FAKE_RECALL_API_KEY, startFakeRecall } from './fake-recall';
import { DEFAULT_FAKE_ZOOM_CLIENT_ID, DEFAULT_FAKE_ZOOM_CLIENT_SECRET, startFakeZoom } from './fake-zoom';

/** A fixed, valid-looking Recall Zoom OAuth app id for demos (Recall's oauth_app must be a UUID). */
const DEMO_OAUTH_APP_ID = '00000000-0000-4000-8000-00000000a001';

function port(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number`);
  return value;
}

async function main(): Promise<void> {
  const zoom = await startFakeZoom({ port: port('FAKE_ZOOM_PORT', 4002) });
  // Signs its calls as Recall does once a workspace verification secret exists (whsec_…, several separated by spaces).
  const verificationSecret = process.env.RECALL_VERIFICATION_SECRET?.trim() || undefined;
  const recall = await startFakeRecall({
    port: port('FAKE_RECALL_PORT', 4001),
    verifyAccessToken: zoom.verifyAccessToken,
    verificationSecret,
  });

  console.log(`fake Zoom   listening on ${zoom.url}  (token endpoint ${zoom.tokenUrl})`);
  console.log(`fake Recall listening on ${recall.url}`);
  console.log(`mint a grant: curl -X POST '${zoom.url}/fake/authorize?zoom_user_id=demoUser1'`);
  console.log(`a meeting:    curl -X POST '${zoom.url}/fake/meetings?host_zoom_user_id=demoUser1'`);
  console.log(
    `Recall's signature: ${verificationSecret ? 'signed with RECALL_VERIFICATION_SECRET (give the service the same)' : 'unsigned (set RECALL_VERIFICATION_SECRET to sign)'}; ` +
      `GET a URL as Recall: curl -H 'Authorization: Token ${DEFAULT_FAKE_RECALL_API_KEY}' --data-urlencode 'url=<URL>' ${recall.url}/fake/call`,
  );
  console.log('\nenv for the service:');
  console.log(`RECALL_API_BASE_URL=${recall.url}`);
  console.log(`RECALL_API_KEY=${DEFAULT_FAKE_RECALL_API_KEY}`);
  console.log(`RECALL_ZOOM_OAUTH_APP_ID=${DEMO_OAUTH_APP_ID}`);
  console.log(`ZOOM_TOKEN_URL=${zoom.tokenUrl}`);
  console.log(`ZOOM_API_BASE_URL=${zoom.apiBaseUrl}`);
  console.log(`ZOOM_CLIENT_ID=${DEFAULT_FAKE_ZOOM_CLIENT_ID}`);
  console.log(`ZOOM_CLIENT_SECRET=${DEFAULT_FAKE_ZOOM_CLIENT_SECRET}`);
  console.log('\nCtrl-C to stop.');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping fakes...`);
    Promise.all([recall.close(), zoom.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('could not start the fakes:', error instanceof Error ? error.message : error);
  process.exit(1);
});
