/**
 * Events as AWS delivers them to a function, built independently of the local runtime's gateway
 * (local/api-gateway.ts) so the bundles meet AWS's shapes, not ours: API Gateway HTTP API
 * payload 2.0 (cookies apart from the headers, repeated query parameters joined by commas, a
 * base64 body, the IAM authorizer's context), an SQS batch from the event source mapping, and
 * EventBridge's scheduled event.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, ScheduledEvent, SQSEvent } from 'aws-lambda';
import { FAKE_ACCOUNT, FAKE_REGION } from './iam-requests';

export interface HttpRequest {
  routeKey: string;
  /** The request path (the route key's path with its parameters filled in). */
  path: string;
  pathParameters?: Record<string, string>;
  /** In order, repeats allowed: `[['x', '1'], ['x', '2']]`. */
  query?: Array<[string, string]>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** API Gateway base64-encodes a body it does not take for text. */
  base64?: boolean;
  /** The caller signed with SigV4 and passed the IAM authorizer (the admin routes). */
  iamCaller?: { accessKey: string; userArn: string };
  sourceIp?: string;
}

/** `dd/MMM/yyyy:HH:mm:ss +0000`, as requestContext.time has it. */
function gatewayTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** An HTTP API (payload format 2.0) event, as API Gateway builds it. */
export function httpApiEvent(request: HttpRequest): APIGatewayProxyEventV2WithIAMAuthorizer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]},${value}` : value;
  }
  // Cookies leave the headers for their own field.
  const cookies = headers.cookie?.split(/;\s*/).filter(Boolean);
  delete headers.cookie;
  const query: Record<string, string> = {};
  for (const [name, value] of request.query ?? []) query[name] = name in query ? `${query[name]},${value}` : value;
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const now = new Date();
  const [method] = request.routeKey.split(' ');
  return {
    version: '2.0',
    routeKey: request.routeKey,
    rawPath: request.path,
    rawQueryString: new URLSearchParams(request.query ?? []).toString(),
    ...(cookies?.length ? { cookies } : {}),
    headers: { host: 'abcdef1234.execute-api.us-east-1.amazonaws.com', 'x-forwarded-proto': 'https', ...headers },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(request.pathParameters ? { pathParameters: request.pathParameters } : {}),
    requestContext: {
      accountId: FAKE_ACCOUNT,
      apiId: 'abcdef1234',
      ...(request.iamCaller
        ? {
            authorizer: {
              iam: {
                accessKey: request.iamCaller.accessKey,
                accountId: FAKE_ACCOUNT,
                callerId: 'AROAEXAMPLEBACKEND:backend',
                cognitoIdentity: null as never,
                principalOrgId: null as never,
                userArn: request.iamCaller.userArn,
                userId: 'AROAEXAMPLEBACKEND:backend',
              },
            },
          }
        : {}),
      domainName: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: {
        method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp ?? '203.0.113.7',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: request.routeKey,
      stage: '$default',
      time: gatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body?.length ? { body: request.base64 ? body.toString('base64') : body.toString('utf8') } : {}),
    isBase64Encoded: Boolean(body?.length && request.base64),
  } as APIGatewayProxyEventV2WithIAMAuthorizer;
}

/** A batch as the SQS event source mapping delivers it. */
export function sqsEvent(queueArn: string, messages: Array<{ MessageId: string; Body: string; SentTimestamp?: number }>): SQSEvent {
  return {
    Records: messages.map((message) => ({
      messageId: message.MessageId,
      receiptHandle: Buffer.from(randomUUID()).toString('base64'),
      body: message.Body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(message.SentTimestamp ?? Date.now()),
        SenderId: 'AROAEXAMPLESENDER:sender',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(message.Body, 'utf8').digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: FAKE_REGION,
    })),
  };
}

/** EventBridge's event for a schedule rule's target. */
export function scheduledEvent(ruleName: string): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: FAKE_ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: FAKE_REGION,
    resources: [`arn:aws:events:${FAKE_REGION}:${FAKE_ACCOUNT}:rule/${ruleName}`],
    detail: {},
  };
}
