/**
 * The AWS contract, per configuration: each synthesized bundle (the cdk.out asset, not the
 * TypeScript) runs with the environment its template sets and answers realistic events, and
 * every AWS call it makes is allowed by its role as IAM would evaluate it. Then the other way
 * round, over all the calls of the configuration: every grant of every role is used (or
 * allowlisted with its reason), and removing any statement, resource or action of a role denies
 * a call. See docs/aws-contract.md.
 */
import { createHmac } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { SQSBatchResponse } from 'aws-lambda';
import { ENV, EVENT_DETAIL_TYPES, FUNCTION_NAMES, type FunctionName, ZOOM_EVENTS_ROUTE_KEY } from '../../functions/contract';
import { recallSignatureHeaders } from '../../local/fakes/fake-recall';
import { BundleWorld, RECALL_VERIFICATION_SECRET, ZOOM_WEBHOOK_TOKEN } from './bundle-world';
import { CONFIGURATIONS } from './configurations';
import { scheduledEvent, sqsEvent } from './events';
import { callProblems, mutationOutcomes, unusedGrants } from './iam-check';
import type { CallLog } from './recorder';

jest.setTimeout(120_000);

describe.each(CONFIGURATIONS)('the AWS contract with $name', (configuration) => {
  let world: BundleWorld;
  let step: CallLog;

  beforeAll(async () => {
    world = await BundleWorld.start(configuration);
  }, 60_000);

  afterAll(async () => {
    // AWS_CONTRACT_SUMMARY=<file>: the distinct calls checked, one JSON line each (see docs/aws-contract.md).
    const summary = process.env.AWS_CONTRACT_SUMMARY;
    if (summary && world) {
      appendFileSync(
        summary,
        world.calls
          .distinct()
          .map((call) => `${JSON.stringify({ configuration: configuration.name, ...call })}\n`)
          .join(''),
      );
    }
    await world?.close();
  });

  /** Each test's own calls, checked at its end. */
  beforeEach(() => {
    step = world.calls.tap();
  });

  afterEach(() => {
    world.calls.untap(step);
  });

  async function iamProblems(): Promise<string[]> {
    return callProblems([world.stack], step);
  }

  /** The actions `fn` was recorded making in this test: the recording itself is under test too. */
  const actionsOf = (fn: FunctionName) => [
    ...new Set(
      step
        .distinct()
        .filter((call) => call.fn === fn)
        .map((call) => call.request.action),
    ),
  ];

  /** A user's tokens PUT through the admin bundle (a base64 body, as API Gateway passes a body it does not take for text). */
  async function register(userId: string, zoomUserId: string, expiresInSeconds = 3599) {
    const tokens = world.parts.fakeZoom.authorize(zoomUserId);
    return world.admin('PUT', `/users/${userId}/zoom-credential`, {
      body: JSON.stringify({
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_in: expiresInSeconds,
        scope: tokens.scope,
      }),
      headers: { 'content-type': 'application/json' },
      base64: true,
    });
  }

  const credentialOf = (userId: string) =>
    world.parts.fakeRecall.credentials().find((credential) => credential.access_token_callback_url.includes(`user_id=${userId}`));
  const queueUrl = () =>
    world.stack.functions.get('refresh-worker')!.environment.REFRESH_QUEUE_URL ??
    world.stack.queueUrls.find((url) => !/DeadLetter/.test(url))!;
  const published = (detailType: string) => world.parts.events.published().filter((event) => event.detailType === detailType);
  /** Recall's request signature headers, as Recall sends them with a workspace verification secret. */
  const signedByRecall = () => recallSignatureHeaders(RECALL_VERIFICATION_SECRET, Date.now());
  /**
   * What a request without Recall's signature gets from `fn`, by the template's own setting: the
   * bad URL's 403 when enforced, served as before otherwise (no secret, or report mode).
   */
  const unsignedStatus = (fn: FunctionName, served: number) =>
    world.stack.functions.get(fn)!.environment[ENV.recallSignatureMode] === 'enforce' ? 403 : served;
  /** How many requests the bundles counted in RecallSignatureFailures (their EMF log lines). */
  const recallSignatureFailures = async () =>
    (await world.logs()).split('\n').filter((line) => line.includes('"RecallSignatureFailures":1')).length;

  it('admin: registers (Recall calls the callback bundle), lists by state, reads, serves, re-syncs and deletes; IAM allows every call', async () => {
    // Prepare
    await register('admin-2', 'zoom-admin-2');
    await register('admin-3', 'zoom-admin-3', 200);
    world.parts.sqs.take(queueUrl(), 100);

    // Act
    const put = await register('admin-1', 'zoom-admin-1');
    const active = await world.admin('GET', '/users', {
      query: [
        ['status', 'active'],
        ['limit', '50'],
      ],
    });
    const reauth = await world.admin('GET', '/users', { query: [['status', 'reauth_required']] });
    const read = await world.admin('GET', '/users/admin-1/zoom-credential');
    await world.recycle('admin'); // a new container: its cache holds no data key, so serving decrypts
    const token = await world.admin('GET', '/users/admin-1/zoom-credential/access-token');
    const nearExpiry = await world.admin('GET', '/users/admin-3/zoom-credential/access-token');
    const resync = await world.admin('POST', '/users/admin-1/zoom-credential/recall-sync');
    const deleted = await world.admin('DELETE', '/users/admin-2/zoom-credential');
    const mistake = await world.admin('PUT', '/users/admin-3/zoom-credential', {
      body: 'not json',
      headers: { 'content-type': 'application/json' },
    });

    // Assess
    expect({ status: put.status, recall: put.json?.recall_status }).toEqual({ status: 201, recall: 'registered' });
    expect(active.status).toBe(200);
    expect(active.json.users.map((user: { user_id: string }) => user.user_id)).toEqual(expect.arrayContaining(['admin-1']));
    expect(reauth).toMatchObject({ status: 200, json: { users: [] } });
    expect(read).toMatchObject({ status: 200, json: { user_id: 'admin-1', status: 'active' } });
    expect(token.status).toBe(200);
    expect(world.parts.fakeZoom.verifyAccessToken(token.json.access_token)?.zoomUserId).toBe('zoom-admin-1');
    expect(nearExpiry.status).toBe(200);
    const queued = world.parts.sqs.take(queueUrl(), 100).map((message) => JSON.parse(message.Body));
    expect(queued).toEqual(expect.arrayContaining([{ userId: 'admin-3', reason: 'serve' }]));
    expect(resync).toMatchObject({ status: 200, json: { recall_status: 'registered' } });
    expect(deleted.status).toBe(204);
    expect(mistake).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(published(EVENT_DETAIL_TYPES.userRegistered).map((event) => event.detail.user_id)).toEqual(expect.arrayContaining(['admin-1']));
    expect(published(EVENT_DETAIL_TYPES.userDeleted).map((event) => event.detail.user_id)).toEqual(['admin-2']);
    expect(actionsOf('admin')).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:BatchGetItem',
        'kms:GenerateDataKey',
        'kms:Decrypt',
        'secretsmanager:GetSecretValue',
        'sqs:SendMessage',
        'events:PutEvents',
        'logs:PutLogEvents',
      ]),
    );
    expect(actionsOf('callback')).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'secretsmanager:GetSecretValue']));
    expect(await iamProblems()).toEqual([]);
  });

  it("callback: answers the signed URL Recall holds (cookies, a repeated query parameter, Recall's signature), refuses a forged one and, where enforced, one without Recall's signature, hands a near-expiry token to the refresh queue; IAM allows every call", async () => {
    // Prepare
    await register('callback-1', 'zoom-callback-1', 200);
    const url = new URL(credentialOf('callback-1')!.access_token_callback_url);
    world.parts.sqs.take(queueUrl(), 100);
    await world.recycle('callback'); // a cold start reads the signing keys from Secrets Manager
    url.searchParams.append('utm', 'a');
    url.searchParams.append('utm', 'b');
    const forged = new URL(url);
    forged.searchParams.set('sig', `${url.searchParams.get('sig')!.slice(0, -2)}AA`);

    const failuresBefore = await recallSignatureFailures();

    // Act
    const served = await fetch(url, { headers: { cookie: 'session=x; theme=dark', 'user-agent': 'Recall', ...signedByRecall() } });
    const refused = await fetch(forged, { headers: signedByRecall() });
    const unsigned = await fetch(url, { headers: { 'user-agent': 'Recall' } });

    // Assess
    expect({ status: served.status, type: served.headers.get('content-type') }).toEqual({
      status: 200,
      type: expect.stringMatching(/^text\/plain/),
    });
    expect(world.parts.fakeZoom.verifyAccessToken(await served.text())?.zoomUserId).toBe('zoom-callback-1');
    expect(refused.status).toBe(403);
    expect(unsigned.status).toBe(unsignedStatus('callback', 200));
    const checked = world.stack.functions.get('callback')!.environment[ENV.recallSignatureMode] !== undefined;
    expect(checked).toBe(configuration.options.recallVerificationSecretArn !== undefined);
    expect((await recallSignatureFailures()) - failuresBefore).toBe(checked ? 1 : 0);
    const queued = world.parts.sqs.take(queueUrl(), 100).map((message) => JSON.parse(message.Body));
    expect(queued).toEqual(expect.arrayContaining([{ userId: 'callback-1', reason: 'serve' }]));
    expect(actionsOf('callback')).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'kms:Decrypt', 'secretsmanager:GetSecretValue', 'sqs:SendMessage']),
    );
    expect(await iamProblems()).toEqual([]);
  });

  it("bot-token: mints each kind from a signed URL (Zoom's API through the stored token), refuses a forged one and, where enforced, one without Recall's signature, hands an expired token to the refresh queue; IAM allows every call", async () => {
    // Prepare
    await register('bot-1', 'zoom-bot-1');
    await register('bot-2', 'zoom-bot-2', 30);
    const meetingId = world.parts.fakeZoom.createMeeting('zoom-bot-1');
    const issued = await world.admin('POST', '/users/bot-1/zoom-credential/bot-token-urls', {
      json: { meeting_id: meetingId, kinds: ['obf', 'zak', 'join_token'] },
    });
    const expiring = await world.admin('POST', '/users/bot-2/zoom-credential/bot-token-urls', { json: { meeting_id: meetingId } });
    world.parts.sqs.take(queueUrl(), 100);
    await world.recycle('bot-token'); // a cold start reads the signing keys from Secrets Manager
    const urls: string[] = Object.values(issued.json.zoom);
    const forged = new URL(urls[0]);
    forged.searchParams.set('meeting_id', '99999999999');

    const failuresBefore = await recallSignatureFailures();

    // Act
    const minted = await Promise.all(urls.map((url) => fetch(url, { headers: { 'user-agent': 'Recall', ...signedByRecall() } })));
    const refused = await fetch(forged, { headers: signedByRecall() });
    const waited = await fetch(expiring.json.zoom.obf_token_url, { headers: signedByRecall() });
    const unsigned = await fetch(urls[1]);

    // Assess
    expect(issued.status).toBe(200);
    expect(urls).toHaveLength(3);
    expect(minted.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const tokens = await Promise.all(minted.map((answer) => answer.text()));
    expect(new Set(tokens).size).toBe(3);
    expect(refused.status).toBe(403);
    // No worker drains the queue here: the answer waited out its budget for the refresh it asked for.
    expect(waited.status).toBe(503);
    expect(unsigned.status).toBe(unsignedStatus('bot-token', 200));
    const checked = world.stack.functions.get('bot-token')!.environment[ENV.recallSignatureMode] !== undefined;
    expect(checked).toBe(configuration.options.recallVerificationSecretArn !== undefined);
    expect((await recallSignatureFailures()) - failuresBefore).toBe(checked ? 1 : 0);
    const queued = world.parts.sqs.take(queueUrl(), 100).map((message) => JSON.parse(message.Body));
    expect(queued).toEqual(expect.arrayContaining([expect.objectContaining({ userId: 'bot-2' })]));
    expect(actionsOf('bot-token')).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'kms:Decrypt', 'secretsmanager:GetSecretValue', 'sqs:SendMessage']),
    );
    expect(await iamProblems()).toEqual([]);
  });

  it('dispatcher: a scheduled run hands the due users to the refresh queue; IAM allows every call', async () => {
    // Prepare
    await register('due-1', 'zoom-due-1', 600);
    world.parts.sqs.take(queueUrl(), 100);

    // Act
    const summary = await world.invoke<{ dispatched: number }>('dispatcher', scheduledEvent('RefreshSchedule'));

    // Assess
    expect(summary.dispatched).toBeGreaterThanOrEqual(1);
    const queued = world.parts.sqs.take(queueUrl(), 100).map((message) => JSON.parse(message.Body));
    expect(queued).toEqual(expect.arrayContaining([{ userId: 'due-1', reason: 'due' }]));
    expect(actionsOf('dispatcher')).toEqual(expect.arrayContaining(['dynamodb:Query', 'sqs:SendMessage']));
    expect(await iamProblems()).toEqual([]);
  });

  it('refresh-worker: an SQS batch refreshes a user, condemns a revoked grant, and reports the poison message alone; IAM allows every call', async () => {
    // Prepare
    await register('worker-1', 'zoom-worker-1', 600);
    await register('worker-2', 'zoom-worker-2', 600);
    world.parts.fakeZoom.revoke('zoom-worker-2');
    world.parts.sqs.take(queueUrl(), 100);
    await world.invoke('dispatcher', scheduledEvent('RefreshSchedule'));
    const messages = world.parts.sqs.take(queueUrl(), 9);
    const poison = { MessageId: 'poison-0001', Body: '{"userId": 42' };
    const queueArn = world.stack.functions.get('refresh-worker')!.eventSourceQueueArns[0];

    // Act
    const answer = await world.invoke<SQSBatchResponse>('refresh-worker', sqsEvent(queueArn, [...messages, poison]), {
      fromQueue: queueArn,
    });

    // Assess
    expect(messages.map((message) => JSON.parse(message.Body).userId)).toEqual(expect.arrayContaining(['worker-1', 'worker-2']));
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: 'poison-0001' }]);
    expect((await world.admin('GET', '/users/worker-1/zoom-credential')).json).toMatchObject({
      status: 'active',
      last_refresh_at: expect.any(String),
    });
    expect((await world.admin('GET', '/users/worker-2/zoom-credential')).json).toMatchObject({ status: 'reauth_required' });
    expect(published(EVENT_DETAIL_TYPES.grantDead).map((event) => event.detail.user_id)).toEqual(['worker-2']);
    expect(actionsOf('refresh-worker')).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'secretsmanager:GetSecretValue',
        'events:PutEvents',
        'sqs:ReceiveMessage',
      ]),
    );
    expect(await iamProblems()).toEqual([]);
  });

  it('recall-health: a scheduled run marks the users whose Recall credential is unhealthy; IAM allows every call', async () => {
    // Prepare
    await register('health-1', 'zoom-health-1');
    world.parts.fakeRecall.setStatus(credentialOf('health-1')!.id, 'unhealthy');

    // Act
    const summary = await world.invoke<{ marked: number }>('recall-health', scheduledEvent('RecallHealthSchedule'));

    // Assess
    expect(summary.marked).toBe(1);
    expect((await world.admin('GET', '/users/health-1/zoom-credential')).json).toMatchObject({ recall_status: 'unhealthy' });
    expect(published(EVENT_DETAIL_TYPES.recallCredentialUnhealthy).map((event) => event.detail.user_id)).toEqual(['health-1']);
    expect(actionsOf('recall-health')).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'secretsmanager:GetSecretValue', 'events:PutEvents']),
    );
    expect(await iamProblems()).toEqual([]);
  });

  // Only where the configuration deploys the Zoom events function (its absence elsewhere is checked below).
  if (configuration.options.zoomEventsRoute)
    it("zoom-events: Zoom's signed app_deauthorized removes the user, another app's is ignored, a bad signature is refused; IAM allows every call", async () => {
      // Prepare
      await register('zoom-1', 'zoom-user-1');
      await register('zoom-2', 'zoom-user-2');
      const post = (payload: object, secret = ZOOM_WEBHOOK_TOKEN) => {
        const body = JSON.stringify({ event: 'app_deauthorized', event_ts: Date.now(), payload });
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
        const path = ZOOM_EVENTS_ROUTE_KEY.split(' ')[1];
        return fetch(`${world.gatewayUrl}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-zm-signature': signature, 'x-zm-request-timestamp': timestamp },
          body,
        });
      };
      const deauthorization = (userId: string, clientId: string) => ({
        account_id: 'zoom-account',
        user_id: userId,
        client_id: clientId,
        deauthorization_time: new Date().toISOString(),
      });
      const clientId = world.stack.functions.get('zoom-events')!.environment.ZOOM_CLIENT_ID;

      // Act
      const ours = await post(deauthorization('zoom-user-1', clientId));
      const anotherApp = await post(deauthorization('zoom-user-2', 'another-zoom-app'));
      const forged = await post(deauthorization('zoom-user-2', clientId), 'not-the-secret');

      // Assess
      expect([ours.status, anotherApp.status, forged.status]).toEqual([200, 200, 401]);
      expect((await world.admin('GET', '/users/zoom-1/zoom-credential')).json).toMatchObject({ status: 'deauthorized' });
      expect((await world.admin('GET', '/users/zoom-2/zoom-credential')).json).toMatchObject({ status: 'active' });
      expect(published(EVENT_DETAIL_TYPES.zoomDeauthorized).map((event) => event.detail.user_id)).toEqual(['zoom-1']);
      expect(actionsOf('zoom-events')).toEqual(
        expect.arrayContaining([
          'dynamodb:Query',
          'dynamodb:BatchGetItem',
          'dynamodb:GetItem',
          'dynamodb:UpdateItem',
          'secretsmanager:GetSecretValue',
          'events:PutEvents',
        ]),
      );
      expect(await iamProblems()).toEqual([]);
    });

  it('drives every function the configuration deploys, and deploys no function the harness cannot name', () => {
    // Assess: a new function needs its step above (and a name in FUNCTION_NAMES).
    expect(world.stack.unknownFunctions).toEqual([]);
    expect([...world.invoked].sort()).toEqual([...world.stack.functions.keys()].sort());
    expect([...world.stack.functions.keys()].every((name) => (FUNCTION_NAMES as readonly FunctionName[]).includes(name))).toBe(true);
  });

  it('writes no refresh token and no secret into any log line of any bundle', async () => {
    // Prepare
    const refreshTokens = world.parts.fakeZoom.issuances().map((issuance) => issuance.issued);

    // Act
    const logs = await world.logs();

    // Assess
    expect(refreshTokens.length).toBeGreaterThan(5);
    expect(world.secretValues.length).toBeGreaterThanOrEqual(3);
    if (configuration.options.recallVerificationSecretArn) expect(world.secretValues).toContain(RECALL_VERIFICATION_SECRET);
    expect([...refreshTokens, ...world.secretValues].filter((secret) => logs.includes(secret))).toEqual([]);
  });

  it('uses every action and resource each role grants, but for the allowlist (test/aws/allowlist.ts)', () => {
    // Assess
    expect(unusedGrants(world.stack, world.calls.distinct())).toEqual([]);
  });

  it('denies some call of its function when any statement, resource or action is removed from a role', async () => {
    // Act
    const outcomes = await mutationOutcomes(world.stack, world.calls.distinct());

    // Assess
    const harmless = outcomes.filter((outcome) => outcome.denied.length === 0).map((outcome) => `${outcome.fn} ${outcome.description}`);
    expect(harmless).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(world.stack.functions.size * 3);
  });
});
