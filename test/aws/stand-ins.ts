/**
 * Minimal local stand-ins for the AWS services the bundles reach besides DynamoDB and KMS (which
 * have their own: dynalite, local/kms): Secrets Manager (GetSecretValue), SQS (SendMessage,
 * SendMessageBatch) and EventBridge (PutEvents). Each speaks the JSON protocol the current SDK
 * sends at the HTTP boundary: `POST /`, `X-Amz-Target: <prefix>.<Operation>`, a JSON body, and
 * errors as a status with `{"__type": …, "message": …}`. They check what the real service
 * refuses on the paths used (unknown secret or queue, batch limits, the MD5 the SQS client
 * verifies) and report every request to an observer, as the other stand-ins do.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AwsRequestObserver, readAwsRequest } from '../../local/aws-requests';
import { eventBusArn } from './iam-requests';

type Json = Record<string, any>;

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface JsonService {
  url: string;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** One JSON-protocol service on a free loopback port. */
async function startJsonService(
  options: { targetPrefix: string; contentType: string; onRequest?: AwsRequestObserver },
  operations: Record<string, (input: Json) => Json>,
): Promise<JsonService> {
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const target = String(request.headers['x-amz-target'] ?? '');
      let status = 200;
      let answer: Json;
      try {
        if (request.method !== 'POST' || !target.startsWith(options.targetPrefix)) {
          throw new ServiceError('UnknownOperationException', `expected POST with X-Amz-Target: ${options.targetPrefix}<Operation>`);
        }
        options.onRequest?.(readAwsRequest(request.headers, body));
        const operation = operations[target.slice(options.targetPrefix.length)];
        if (!operation) throw new ServiceError('UnknownOperationException', `${target} is not supported by this stand-in`);
        answer = operation(body ? JSON.parse(body) : {});
      } catch (error) {
        const known = error instanceof ServiceError ? error : new ServiceError('InternalFailure', 'stand-in failure', 500);
        status = known.status;
        answer = { __type: known.type, message: known.message };
      }
      response.writeHead(status, { 'content-type': options.contentType, 'x-amzn-requestid': randomUUID() });
      response.end(JSON.stringify(answer));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------

export interface SecretsManagerStandIn extends JsonService {
  /** Secrets by complete ARN. */
  put(arn: string, value: string): void;
}

/** Secrets Manager: GetSecretValue by complete ARN or by name. */
export async function startSecretsManager(onRequest?: AwsRequestObserver): Promise<SecretsManagerStandIn> {
  const secrets = new Map<string, string>();
  const nameOf = (arn: string) => arn.split(':secret:')[1].replace(/-[A-Za-z0-9]{6}$/, '');
  const service = await startJsonService(
    { targetPrefix: 'secretsmanager.', contentType: 'application/x-amz-json-1.1', onRequest },
    {
      GetSecretValue: ({ SecretId }) => {
        const arn = [...secrets.keys()].find((candidate) => candidate === SecretId || nameOf(candidate) === SecretId);
        if (!arn) throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        return {
          ARN: arn,
          Name: nameOf(arn),
          VersionId: '00000000-0000-4000-8000-000000000001',
          SecretString: secrets.get(arn),
          VersionStages: ['AWSCURRENT'],
          CreatedDate: Math.floor(Date.now() / 1000),
        };
      },
    },
  );
  return { ...service, put: (arn, value) => secrets.set(arn, value) };
}

// ---------------------------------------------------------------------------------------------

export interface QueuedMessage {
  MessageId: string;
  Body: string;
  MD5OfBody: string;
  SentTimestamp: number;
}

export interface SqsStandIn extends JsonService {
  addQueue(queueUrl: string): void;
  /** Removes and returns up to `max` messages of the queue (oldest first): what a poll would receive. */
  take(queueUrl: string, max?: number): QueuedMessage[];
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
const MAX_MESSAGE_BYTES = 256 * 1024;

/** SQS over its JSON protocol (AmazonSQS.*): SendMessage and SendMessageBatch into in-memory queues. */
export async function startSqs(onRequest?: AwsRequestObserver): Promise<SqsStandIn> {
  const queues = new Map<string, QueuedMessage[]>();
  const queueOf = (url: unknown) => {
    const queue = queues.get(String(url));
    if (!queue) throw new ServiceError('com.amazonaws.sqs#QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  };
  const enqueue = (queue: QueuedMessage[], body: unknown, delay: unknown) => {
    if (typeof body !== 'string' || body === '' || Buffer.byteLength(body) > MAX_MESSAGE_BYTES) {
      throw new ServiceError('com.amazonaws.sqs#InvalidParameterValue', 'MessageBody must be 1 byte to 256 KiB');
    }
    if (delay !== undefined && (!Number.isInteger(delay) || (delay as number) < 0 || (delay as number) > 900)) {
      throw new ServiceError('com.amazonaws.sqs#InvalidParameterValue', 'DelaySeconds must be 0 to 900');
    }
    const message = { MessageId: randomUUID(), Body: body, MD5OfBody: md5(body), SentTimestamp: Date.now() };
    queue.push(message);
    return message;
  };
  const service = await startJsonService(
    { targetPrefix: 'AmazonSQS.', contentType: 'application/x-amz-json-1.0', onRequest },
    {
      SendMessage: ({ QueueUrl, MessageBody, DelaySeconds }) => {
        const message = enqueue(queueOf(QueueUrl), MessageBody, DelaySeconds);
        return { MessageId: message.MessageId, MD5OfMessageBody: message.MD5OfBody };
      },
      SendMessageBatch: ({ QueueUrl, Entries }) => {
        const queue = queueOf(QueueUrl);
        const entries = (Entries ?? []) as Json[];
        if (entries.length === 0) throw new ServiceError('com.amazonaws.sqs#EmptyBatchRequest', 'There should be at least one entry.');
        if (entries.length > 10) throw new ServiceError('com.amazonaws.sqs#TooManyEntriesInBatchRequest', 'At most 10 entries.');
        if (new Set(entries.map((entry) => entry.Id)).size !== entries.length) {
          throw new ServiceError('com.amazonaws.sqs#BatchEntryIdsNotDistinct', 'Two or more batch entries have the same Id.');
        }
        const successful = entries.map((entry) => {
          const message = enqueue(queue, entry.MessageBody, entry.DelaySeconds);
          return { Id: entry.Id, MessageId: message.MessageId, MD5OfMessageBody: message.MD5OfBody };
        });
        return { Successful: successful, Failed: [] };
      },
    },
  );
  return {
    ...service,
    addQueue: (queueUrl) => queues.set(queueUrl, []),
    take: (queueUrl, max = 10) => queueOf(queueUrl).splice(0, max),
  };
}

// ---------------------------------------------------------------------------------------------

export interface PublishedEvent {
  bus: string;
  source: string;
  detailType: string;
  detail: Json;
}

export interface EventBridgeStandIn extends JsonService {
  published(): PublishedEvent[];
}

/** EventBridge: PutEvents onto the buses given (by name); an entry for another bus fails as in AWS. */
export async function startEventBridge(busNames: string[], onRequest?: AwsRequestObserver): Promise<EventBridgeStandIn> {
  const buses = new Set(busNames.map(eventBusArn));
  const published: PublishedEvent[] = [];
  const service = await startJsonService(
    { targetPrefix: 'AWSEvents.', contentType: 'application/x-amz-json-1.1', onRequest },
    {
      PutEvents: ({ Entries }) => {
        const entries = (Entries ?? []) as Json[];
        if (entries.length === 0 || entries.length > 10) throw new ServiceError('ValidationException', 'Entries must hold 1 to 10 entries');
        const answers = entries.map((entry) => {
          const bus = eventBusArn(entry.EventBusName);
          if (!buses.has(bus)) return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: `no event bus ${bus}` };
          published.push({ bus, source: entry.Source, detailType: entry.DetailType, detail: JSON.parse(entry.Detail) });
          return { EventId: randomUUID() };
        });
        return { FailedEntryCount: answers.filter((answer) => 'ErrorCode' in answer).length, Entries: answers };
      },
    },
  );
  return { ...service, published: () => [...published] };
}
