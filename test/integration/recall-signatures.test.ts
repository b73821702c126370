/**
 * Recall's request signature end to end through the local runtime (RECALL_VERIFICATION_SECRET):
 * the fake Recall signs its calls with the runtime's secret, so registration works while the
 * signature is enforced; a GET of a valid callback or bot-token URL without Recall's headers,
 * with a stale timestamp or signed with another secret gets the bad URL's very 403; with two
 * secrets configured (a rotation) either one's signature is accepted; in report mode the same
 * unsigned GET is served, and counted (the metric the functions publish, as EMF lines).
 *
 * Requests are signed with the fake Recall's own signer at the current time; "stale" is ten
 * minutes off, nowhere near the 5-minute edge (the unit tests pin the edge with an injected clock).
 */
import { BOT_TOKEN_KINDS } from '../../functions/contract';
import { DEFAULT_FAKE_RECALL_API_KEY, recallSignatureHeaders } from '../../local/fakes/fake-recall';
import type { LocalRuntime } from '../../local/runtime';
import { adminCall, startTestRuntime } from '../support/test-runtime';

const secret = (fill: number) => `whsec_${Buffer.alloc(32, fill).toString('base64')}`;
const OLD_SECRET = secret(1);
const NEW_SECRET = secret(2);
const OTHER_SECRET = secret(3);
/** The runtime's functions publish their metrics (EMF on stdout), so counts can be read. */
const PUBLISHING = { POWERTOOLS_METRICS_DISABLED: 'false' };

let enforcing: LocalRuntime;
let reporting: LocalRuntime;
/** Everything written to stdout (the EMF lines), kept off the terminal. */
const written: string[] = [];

beforeAll(async () => {
  jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
    written.push(String(chunk));
    return true;
  }) as never);
  [enforcing, reporting] = await Promise.all([
    startTestRuntime({ ...PUBLISHING, RECALL_VERIFICATION_SECRET: `${OLD_SECRET} ${NEW_SECRET}` }),
    startTestRuntime({ ...PUBLISHING, RECALL_VERIFICATION_SECRET: NEW_SECRET, RECALL_SIGNATURE_MODE: 'report' }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([enforcing?.close(), reporting?.close()]);
  jest.restoreAllMocks();
});

/** What `fn` made the functions count in RecallSignatureFailures (read from their EMF lines). */
async function countedDuring<T>(fn: () => Promise<T>): Promise<{ result: T; counted: number }> {
  const from = written.length;
  const result = await fn();
  const counted = written
    .slice(from)
    .join('')
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .reduce((sum, line) => sum + Number(JSON.parse(line).RecallSignatureFailures ?? 0), 0);
  return { result, counted };
}

/** A user registered through the admin API: Recall's validation call must pass the check. */
async function register(runtime: LocalRuntime, userId: string) {
  const grant = runtime.fakeZoom!.authorize(`zoom-${userId}`);
  const put = await adminCall(runtime, 'PUT', `/users/${userId}/zoom-credential`, grant);
  const credential = runtime.fakeRecall!.credentials().find((c) => c.id === put.json?.recall_credential_id);
  return { put, grant, callbackUrl: credential?.access_token_callback_url ?? '' };
}

/** The three bot-token URLs of a meeting the user hosts. */
async function botTokenUrls(runtime: LocalRuntime, userId: string): Promise<string[]> {
  const meetingId = runtime.fakeZoom!.createMeeting(`zoom-${userId}`);
  const issued = await adminCall(runtime, 'POST', `/users/${userId}/zoom-credential/bot-token-urls`, {
    meeting_id: meetingId,
    kinds: [...BOT_TOKEN_KINDS],
  });
  expect(issued.status).toBe(200);
  return Object.values(issued.json.zoom as Record<string, string>);
}

async function get(url: string, headers: Record<string, string> = {}) {
  const answer = await fetch(url, { headers });
  return {
    status: answer.status,
    body: await answer.text(),
    type: answer.headers.get('content-type'),
    cache: answer.headers.get('cache-control'),
  };
}

/** The same URL with a forged HMAC: the refusal every failure must look like. */
function forged(url: string): string {
  const copy = new URL(url);
  copy.searchParams.set('sig', 'A'.repeat(43));
  return copy.toString();
}

const signedNow = (withSecret: string) => recallSignatureHeaders(withSecret, Date.now());

describe('enforced (two secrets configured, as while Recall rotates its secret)', () => {
  it("registers: Recall's validation call is signed and accepted", async () => {
    // Act
    const { put, grant, callbackUrl } = await register(enforcing, 'sig-register');

    // Assess
    expect(put.status).toBe(201);
    expect(put.json.recall_status).toBe('registered');
    expect(callbackUrl).toContain('user_id=sig-register');
    // And Recall's later calls too: the fake Recall signs like the real one.
    const fetched = await enforcing.fakeRecall!.fetchToken(put.json.recall_credential_id);
    expect([fetched.status, fetched.body, fetched.problem]).toEqual([200, grant.access_token, undefined]);
  });

  it("refuses a valid callback URL without Recall's headers, stale, or signed with another secret, with the bad URL's 403", async () => {
    // Prepare
    const { callbackUrl, grant } = await register(enforcing, 'sig-callback');
    const refusal = await get(forged(callbackUrl), signedNow(NEW_SECRET));

    // Act
    const { result, counted } = await countedDuring(async () => ({
      unsigned: await get(callbackUrl),
      stale: await get(callbackUrl, recallSignatureHeaders(NEW_SECRET, Date.now() - 10 * 60_000)),
      other: await get(callbackUrl, signedNow(OTHER_SECRET)),
      signedOld: await get(callbackUrl, signedNow(OLD_SECRET)),
      signedNew: await get(callbackUrl, signedNow(NEW_SECRET)),
    }));

    // Assess
    expect(refusal).toMatchObject({ status: 403, body: 'forbidden' });
    expect([result.unsigned, result.stale, result.other]).toEqual([refusal, refusal, refusal]);
    expect([result.signedOld.status, result.signedOld.body]).toEqual([200, grant.access_token]);
    expect([result.signedNew.status, result.signedNew.body]).toEqual([200, grant.access_token]);
    expect(counted).toBe(3);
  });

  it('refuses the bot-token URLs alike, and mints for a request signed with either secret', async () => {
    // Prepare
    await register(enforcing, 'sig-bot');
    const urls = await botTokenUrls(enforcing, 'sig-bot');
    const refusal = await get(forged(urls[0]), signedNow(NEW_SECRET));

    // Act
    const { result, counted } = await countedDuring(async () => {
      const answers = [];
      for (const url of urls) {
        answers.push({
          unsigned: await get(url),
          stale: await get(url, recallSignatureHeaders(OLD_SECRET, Date.now() - 10 * 60_000)),
          other: await get(url, signedNow(OTHER_SECRET)),
          signedOld: await get(url, signedNow(OLD_SECRET)),
          signedNew: await get(url, signedNow(NEW_SECRET)),
        });
      }
      return answers;
    });

    // Assess
    expect(refusal).toMatchObject({ status: 403, body: 'forbidden' });
    for (const answer of result) {
      expect([answer.unsigned, answer.stale, answer.other]).toEqual([refusal, refusal, refusal]);
      expect([answer.signedOld.status, answer.signedNew.status]).toEqual([200, 200]);
      expect(enforcing.fakeZoom!.useBotToken(answer.signedOld.body)).toBe(true);
      expect(enforcing.fakeZoom!.useBotToken(answer.signedNew.body)).toBe(true);
    }
    expect(counted).toBe(9);
  });

  it("fetches a token as Recall would through the fake Recall's POST /fake/call, which a bare GET no longer can", async () => {
    // Prepare
    const { callbackUrl, grant } = await register(enforcing, 'sig-fake-call');
    const urls = await botTokenUrls(enforcing, 'sig-fake-call');
    const asRecall = (url: string) =>
      fetch(`${enforcing.fakeRecall!.url}/fake/call`, {
        method: 'POST',
        headers: { authorization: `Token ${DEFAULT_FAKE_RECALL_API_KEY}` },
        body: new URLSearchParams({ url }),
      });

    // Act
    const token = await asRecall(callbackUrl);
    const zak = await asRecall(urls[1]);
    const bare = await get(callbackUrl);
    const withoutKey = await fetch(`${enforcing.fakeRecall!.url}/fake/call`, {
      method: 'POST',
      body: new URLSearchParams({ url: callbackUrl }),
    });

    // Assess
    expect([token.status, await token.text()]).toEqual([200, grant.access_token]);
    expect(zak.status).toBe(200);
    expect(enforcing.fakeZoom!.useBotToken(await zak.text())).toBe(true);
    expect(bare.status).toBe(403);
    expect(withoutKey.status).toBe(401);
  });
});

describe('reported', () => {
  it('registers, serves an unsigned callback GET as before and counts it; a signed one is not counted', async () => {
    // Prepare
    const { put, callbackUrl, grant } = await register(reporting, 'report-callback');

    // Act
    const unsigned = await countedDuring(() => get(callbackUrl));
    const signed = await countedDuring(() => get(callbackUrl, signedNow(NEW_SECRET)));
    const badUrl = await countedDuring(() => get(forged(callbackUrl)));

    // Assess
    expect(put.status).toBe(201);
    expect([unsigned.result.status, unsigned.result.body, unsigned.counted]).toEqual([200, grant.access_token, 1]);
    expect([signed.result.status, signed.counted]).toEqual([200, 0]);
    // Refused by its URL as ever, and no Recall-signature failure: enforcing would change nothing for it.
    expect([badUrl.result.status, badUrl.counted]).toEqual([403, 0]);
  });

  it('mints for unsigned and stale bot-token GETs, counting each', async () => {
    // Prepare
    await register(reporting, 'report-bot');
    const urls = await botTokenUrls(reporting, 'report-bot');

    // Act
    const { result, counted } = await countedDuring(async () => [
      ...(await Promise.all(urls.map((url) => get(url)))),
      await get(urls[0], recallSignatureHeaders(NEW_SECRET, Date.now() - 10 * 60_000)),
    ]);

    // Assess
    expect(result.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(counted).toBe(4);
  });
});
