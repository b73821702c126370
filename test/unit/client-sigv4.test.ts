/**
 * The client's SigV4 signing (IAM auth of the admin API in AWS): the SDK's signer with service
 * `execute-api`, checked here against an independent computation of the signature from the
 * request actually sent (AWS's documented algorithm, with node:crypto).
 */
import { createHash, createHmac } from 'node:crypto';
import { ZoomTokenVaultClient } from 'zoom-token-vault-client';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SIGNING_DATE = new Date('2024-01-02T03:04:05Z');

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

function recordingFetch(answers: Array<{ status: number; body: unknown }>) {
  const sent: Sent[] = [];
  const fake = (async (input: URL | string, init?: RequestInit) => {
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: { ...(init?.headers as Record<string, string>) },
      body: init?.body as string | undefined,
    });
    const answer = answers.shift() ?? { status: 200, body: {} };
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { fake, sent };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest();

/** The signature AWS would compute for the request as sent (path segments are URI-encoded twice for non-S3 services). */
function expectedSignature(request: Sent, region: string, secretAccessKey: string): string {
  const url = new URL(request.url);
  const authorization = request.headers.authorization;
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1].split(';');
  const headers: Record<string, string> = { host: url.host };
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value.trim();
  const amzDate = headers['x-amz-date'];
  const day = amzDate.slice(0, 8);
  const canonicalPath = url.pathname
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
  const canonicalQuery = [...url.searchParams]
    .map(([name, value]) => [encodeURIComponent(name), encodeURIComponent(value)])
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [
    request.method,
    canonicalPath,
    canonicalQuery,
    ...signedHeaders.map((name) => `${name}:${headers[name]}`),
    '',
    signedHeaders.join(';'),
    sha256(request.body ?? ''),
  ].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), 'execute-api'), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

test('a GET is signed AWS4-HMAC-SHA256 for execute-api in the region, with a signature AWS would compute', async () => {
  // Prepare
  const { fake, sent } = recordingFetch([{ status: 200, body: { user_id: 'alice', status: 'active' } }]);
  const client = new ZoomTokenVaultClient({
    baseUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
    auth: { kind: 'sigv4', region: 'eu-west-1', credentials: CREDENTIALS },
    fetch: fake,
    signingDate: () => SIGNING_DATE,
  });

  // Act
  await client.get('alice');

  // Assess
  expect(sent).toHaveLength(1);
  const { headers } = sent[0];
  expect(headers.authorization).toMatch(
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20240102\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
  );
  expect(headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-date/);
  expect(headers['x-amz-date']).toBe('20240102T030405Z');
  expect(headers.host).toBeUndefined(); // fetch sends the URL's host itself
  expect(/Signature=([0-9a-f]{64})/.exec(headers.authorization)![1]).toBe(
    expectedSignature(sent[0], 'eu-west-1', CREDENTIALS.secretAccessKey),
  );
});

test('a PUT signs its body and a query-carrying GET its query; a session token is sent and signed', async () => {
  // Prepare
  const { fake, sent } = recordingFetch([
    { status: 201, body: { user_id: 'bob', status: 'active' } },
    { status: 200, body: { users: [], next_cursor: null } },
  ]);
  const credentials = { ...CREDENTIALS, sessionToken: 'session-token-example' };
  const client = new ZoomTokenVaultClient({
    baseUrl: 'https://abc123.execute-api.us-east-1.amazonaws.com/',
    auth: { kind: 'sigv4', region: 'us-east-1', credentials: async () => credentials },
    fetch: fake,
    signingDate: () => SIGNING_DATE,
  });

  // Act
  const registered = await client.register('bob', { access_token: 'at', refresh_token: 'rt', expires_in: 3600 });
  await client.list({ status: 'active', limit: 50, cursor: 'abc=' });

  // Assess
  expect(registered.created).toBe(true);
  expect(sent.map((request) => `${request.method} ${new URL(request.url).pathname}${new URL(request.url).search}`)).toEqual([
    'PUT /users/bob/zoom-credential',
    'GET /users?status=active&cursor=abc%3D&limit=50',
  ]);
  for (const request of sent) {
    expect(request.headers['x-amz-security-token']).toBe('session-token-example');
    expect(request.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
    expect(/Signature=([0-9a-f]{64})/.exec(request.headers.authorization)![1]).toBe(
      expectedSignature(request, 'us-east-1', CREDENTIALS.secretAccessKey),
    );
  }
});

test('bearer auth sends the token and no SigV4 headers', async () => {
  // Prepare
  const { fake, sent } = recordingFetch([{ status: 204, body: undefined }]);
  const client = new ZoomTokenVaultClient({
    baseUrl: 'http://127.0.0.1:3000',
    auth: { kind: 'bearer', token: 'local-admin-token' },
    fetch: fake,
  });

  // Act
  await client.delete('carol');

  // Assess
  expect(sent).toHaveLength(1);
  expect(sent[0].headers.authorization).toBe('Bearer local-admin-token');
  expect(sent[0].headers['x-amz-date']).toBeUndefined();
});
