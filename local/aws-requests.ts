/**
 * The AWS requests the local stand-ins (dynalite, the KMS stand-in, the test stand-ins) receive,
 * read at their HTTP boundary: who signed it (the SigV4 access key id), for which service and
 * region, which operation (`X-Amz-Target` of the JSON protocols) and its input.
 *
 * Every function signs with an access key id of its own (`local-<function name>`, as each has a
 * role of its own in AWS), so whoever observes the requests knows the function behind each: the
 * AWS contract harness (test/aws) evaluates them against that function's role. Local-only.
 */
import type { IncomingMessage, Server } from 'node:http';
import { FUNCTION_NAMES, type FunctionName } from '../functions/contract';

export interface AwsRequest {
  /** From the SigV4 credential scope; undefined for an unsigned request. */
  accessKeyId?: string;
  /** The signing name: dynamodb, kms, sqs, secretsmanager, events, … */
  service: string;
  region?: string;
  /** `GetItem` of `X-Amz-Target: DynamoDB_20120810.GetItem`. */
  operation: string;
  input: Record<string, unknown>;
}

export type AwsRequestObserver = (request: AwsRequest) => void;

const ACCESS_KEY_PREFIX = 'local-';

/** The access key id a function signs its AWS requests with, locally and in the tests. */
export function functionAccessKeyId(name: FunctionName): string {
  return `${ACCESS_KEY_PREFIX}${name}`;
}

/** The function behind an access key id, if it is one of theirs. */
export function functionOfAccessKeyId(accessKeyId: string | undefined): FunctionName | undefined {
  const name = accessKeyId?.startsWith(ACCESS_KEY_PREFIX) ? accessKeyId.slice(ACCESS_KEY_PREFIX.length) : undefined;
  return (FUNCTION_NAMES as readonly string[]).includes(name ?? '') ? (name as FunctionName) : undefined;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, …` → its scope. */
export function credentialScope(authorization: string | undefined): { accessKeyId: string; region: string; service: string } | undefined {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization ?? '');
  return match ? { accessKeyId: match[1], region: match[2], service: match[3] } : undefined;
}

/** The request as observed, from its headers and raw body. */
export function readAwsRequest(headers: IncomingMessage['headers'], body: string): AwsRequest {
  const scope = credentialScope(String(headers.authorization ?? ''));
  const target = String(headers['x-amz-target'] ?? '');
  let input: Record<string, unknown> = {};
  try {
    const parsed: unknown = body ? JSON.parse(body) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) input = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: the operation's own handler answers it; nothing to record but the operation.
  }
  return {
    ...(scope ? { accessKeyId: scope.accessKeyId, region: scope.region } : {}),
    service: scope?.service ?? 'unknown',
    operation: target.split('.').pop() || 'unknown',
    input,
  };
}

/**
 * Tells `observer` about every request `server` receives, once its body is in (before the
 * answer goes out). Reads the body beside the server's own handler: both listen to 'data'.
 */
export function observeAwsRequests(server: Server, observer: AwsRequestObserver): void {
  server.on('request', (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => observer(readAwsRequest(request.headers, Buffer.concat(chunks).toString('utf8'))));
  });
}
