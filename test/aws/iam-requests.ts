/**
 * An AWS request as IAM authorizes it: the action, the resource ARN and the request's own
 * condition keys (the encryption context of a KMS call, the source of an event). One API call
 * may be several authorizations (a BatchGetItem over two tables, PutEvents entries on two buses).
 */
import type { AwsRequest } from '../../local/aws-requests';

/** The account and region the harness synthesizes for; the KMS stand-in's key ARNs use them too. */
export const FAKE_ACCOUNT = '000000000000';
export const FAKE_REGION = 'us-east-1';

export interface IamRequest {
  action: string;
  resource: string;
  /** Condition keys the request itself carries, beyond the principal's (added at evaluation). */
  context: Record<string, string | string[]>;
}

/** A request the harness cannot turn into its authorization: reported, never skipped. */
export class UnmappedRequestError extends Error {
  constructor(message: string) {
    super(`${message} (teach test/aws/iam-requests.ts how IAM authorizes it)`);
    this.name = 'UnmappedRequestError';
  }
}

type Input = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function tableArn(table: unknown, operation: string): string {
  const name = text(table);
  if (!name) throw new UnmappedRequestError(`dynamodb:${operation} without a TableName`);
  return name.startsWith('arn:') ? name : `arn:aws:dynamodb:${FAKE_REGION}:${FAKE_ACCOUNT}:table/${name}`;
}

function dynamodb(operation: string, input: Input): IamRequest[] {
  const single = (action: string, resource: string): IamRequest[] => [{ action: `dynamodb:${action}`, resource, context: {} }];
  switch (operation) {
    case 'GetItem':
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem':
    case 'DescribeTable':
      return single(operation, tableArn(input.TableName, operation));
    case 'Query':
    case 'Scan': {
      const table = tableArn(input.TableName, operation);
      const index = text(input.IndexName);
      return single(operation, index ? `${table}/index/${index}` : table);
    }
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((input.RequestItems as Input) ?? {}).flatMap((table) => single(operation, tableArn(table, operation)));
    case 'TransactGetItems':
    case 'TransactWriteItems':
      // Authorized item by item, as the single-item action on its table.
      return ((input.TransactItems as Input[]) ?? []).flatMap((item) =>
        Object.entries(item).flatMap(([kind, spec]) =>
          single(
            kind === 'Get' ? 'GetItem' : kind === 'ConditionCheck' ? 'ConditionCheckItem' : `${kind}Item`,
            tableArn((spec as Input).TableName, kind),
          ),
        ),
      );
    default:
      throw new UnmappedRequestError(`dynamodb:${operation}`);
  }
}

/** The key's ARN; an alias or a bare key id would need the account's key directory, which the harness does not keep. */
function keyArn(keyId: unknown, operation: string): string {
  const id = text(keyId);
  if (id?.startsWith('arn:aws:kms:') && id.includes(':key/')) return id;
  throw new UnmappedRequestError(`kms:${operation} with KeyId ${JSON.stringify(id)}: the harness needs a key ARN`);
}

function kms(operation: string, input: Input): IamRequest[] {
  if (!['GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'Decrypt', 'Encrypt', 'ReEncrypt'].includes(operation)) {
    throw new UnmappedRequestError(`kms:${operation}`);
  }
  const context: Record<string, string | string[]> = { 'kms:CallerAccount': FAKE_ACCOUNT };
  const encryptionContext = (input.EncryptionContext as Record<string, string>) ?? {};
  for (const [key, value] of Object.entries(encryptionContext)) context[`kms:EncryptionContext:${key}`] = value;
  if (Object.keys(encryptionContext).length) context['kms:EncryptionContextKeys'] = Object.keys(encryptionContext);
  return [{ action: `kms:${operation}`, resource: keyArn(input.KeyId, operation), context }];
}

/** `https://sqs.<region>.amazonaws.com/<account>/<name>` (or a stand-in's URL of that shape) → the queue's ARN. */
export function queueArnOfUrl(queueUrl: unknown): string {
  const match = /^https?:\/\/[^/]+\/(\d{12})\/([^/?#]+)$/.exec(text(queueUrl) ?? '');
  if (!match) throw new UnmappedRequestError(`SQS QueueUrl ${JSON.stringify(queueUrl)}`);
  return `arn:aws:sqs:${FAKE_REGION}:${match[1]}:${match[2]}`;
}

const SQS_ACTIONS: Record<string, string> = {
  SendMessage: 'SendMessage',
  // A batch is authorized as its single-message action.
  SendMessageBatch: 'SendMessage',
  ReceiveMessage: 'ReceiveMessage',
  DeleteMessage: 'DeleteMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibility: 'ChangeMessageVisibility',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
  GetQueueAttributes: 'GetQueueAttributes',
};

function sqs(operation: string, input: Input): IamRequest[] {
  const action = SQS_ACTIONS[operation];
  if (!action) throw new UnmappedRequestError(`sqs:${operation}`);
  return [{ action: `sqs:${action}`, resource: queueArnOfUrl(input.QueueUrl), context: {} }];
}

function secretsmanager(operation: string, input: Input): IamRequest[] {
  if (operation !== 'GetSecretValue' && operation !== 'DescribeSecret') throw new UnmappedRequestError(`secretsmanager:${operation}`);
  const id = text(input.SecretId);
  // A secret named without its full ARN is authorized on the full ARN, which only the account knows.
  if (!id || !/^arn:aws:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(id)) {
    throw new UnmappedRequestError(`secretsmanager:${operation} on ${JSON.stringify(id)}: the harness needs a complete secret ARN`);
  }
  return [{ action: `secretsmanager:${operation}`, resource: id, context: {} }];
}

export function eventBusArn(nameOrArn: unknown): string {
  const bus = text(nameOrArn) ?? 'default';
  return bus.startsWith('arn:') ? bus : `arn:aws:events:${FAKE_REGION}:${FAKE_ACCOUNT}:event-bus/${bus}`;
}

function events(operation: string, input: Input): IamRequest[] {
  if (operation !== 'PutEvents') throw new UnmappedRequestError(`events:${operation}`);
  return ((input.Entries as Input[]) ?? []).map((entry) => ({
    action: 'events:PutEvents',
    resource: eventBusArn(entry.EventBusName),
    context: {
      ...(text(entry.Source) ? { 'events:source': entry.Source as string } : {}),
      ...(text(entry.DetailType) ? { 'events:detail-type': entry.DetailType as string } : {}),
    },
  }));
}

const SERVICES: Record<string, (operation: string, input: Input) => IamRequest[]> = { dynamodb, kms, sqs, secretsmanager, events };

/** The authorizations IAM evaluates for one request; throws UnmappedRequestError for what it cannot tell. */
export function iamRequestsOf(request: Pick<AwsRequest, 'service' | 'operation' | 'input'>): IamRequest[] {
  const mapper = SERVICES[request.service];
  if (!mapper) throw new UnmappedRequestError(`a request to service '${request.service}' (${request.operation})`);
  return mapper(request.operation, request.input);
}
