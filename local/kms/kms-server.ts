/**
 * A small local stand-in for AWS KMS, for `npm start` and integration tests only
 * (never bundled into a Lambda).
 *
 * It speaks the protocol the real `@aws-sdk/client-kms` v3 client uses (awsJson1_1):
 * `POST /`, header `X-Amz-Target: TrentService.<Operation>`, JSON bodies with blobs as
 * base64, errors as HTTP 400 + `{"__type": "<Name>", "message": "..."}` plus the
 * `x-amzn-ErrorType` header, so the SDK raises its own exception classes
 * (InvalidCiphertextException, NotFoundException, ...).
 *
 * Supported operations: GenerateDataKey, Encrypt, Decrypt. SigV4 signatures are not checked.
 *
 * Ciphertext blob layout (self-describing, like real KMS blobs):
 *   [version=1][keyIdLength][keyId utf8][iv 12 bytes][AES-256-GCM ciphertext][tag 16 bytes]
 * The AAD is the header (version, length, key id) followed by the canonical encryption
 * context, so changing the key id, the context or any byte of the blob makes Decrypt fail.
 *
 * Nothing here logs: plaintext, data keys and master keys must never reach a log or an
 * error message.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { type AwsRequestObserver, observeAwsRequests } from '../aws-requests';

export interface KmsServerOptions {
  port?: number; // default 0 = free port
  host?: string; // default '127.0.0.1'
  /** Where the master key material is persisted (a JSON file). When absent, keys live in memory only. */
  keyFile?: string;
  /** Key id(s) to accept; created on first start when missing. Default one key with id 'local-token-key'. */
  keyIds?: string[];
  /** Told about every request (who signed it, the operation, its input): the AWS contract harness records them. */
  onRequest?: AwsRequestObserver;
}

export interface KmsCallCounts {
  GenerateDataKey: number;
  Encrypt: number;
  Decrypt: number;
  /** Every KMS request served (any operation, successful or not). */
  total: number;
}

export interface KmsServer {
  url: string; // e.g. http://127.0.0.1:PORT
  port: number;
  keyArn(keyId: string): string; // arn:aws:kms:us-east-1:000000000000:key/<id>
  counts(): KmsCallCounts; // calls served since start or last resetCounts()
  resetCounts(): void;
  close(): Promise<void>;
}

export const DEFAULT_KEY_ID = 'local-token-key';
const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const TARGET_PREFIX = 'TrentService.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const ALGORITHM = 'SYMMETRIC_DEFAULT';

const BLOB_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MASTER_KEY_BYTES = 32;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_PLAINTEXT_BYTES = 4096; // KMS Encrypt limit
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;

/** An error answered to the client as a KMS error response. */
class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

export async function startKmsServer(options: KmsServerOptions = {}): Promise<KmsServer> {
  const host = options.host ?? '127.0.0.1';
  const keyIds = options.keyIds && options.keyIds.length > 0 ? options.keyIds : [DEFAULT_KEY_ID];
  for (const id of keyIds) {
    if (!KEY_ID_PATTERN.test(id)) throw new Error(`Invalid local KMS key id: ${JSON.stringify(id)}`);
  }
  const operations = kmsOperations(new LocalKeyring(keyIds, loadOrCreateKeys(keyIds, options.keyFile)));
  // Reset in place: the request handler keeps counting into the same object.
  const counts = emptyCounts();
  const server = createServer((req, res) => void handleKmsRequest(req, res, operations, counts));
  if (options.onRequest) observeAwsRequests(server, options.onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    keyArn,
    counts: () => ({ ...counts }),
    resetCounts: () => {
      Object.assign(counts, emptyCounts());
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK keeps connections alive; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

function keyArn(keyId: string): string {
  return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`;
}

/** The master keys the server holds, and the blob format sealed with them. */
class LocalKeyring {
  constructor(
    private readonly keyIds: string[],
    private readonly masterKeys: Map<string, Buffer>,
  ) {}

  /** Maps a bare id, a key ARN or an alias (to the first key) to a known key id. */
  resolveKeyId(raw: unknown): string {
    if (typeof raw !== 'string' || raw.length === 0) {
      throw new KmsError('ValidationException', 'KeyId is required and must be a string');
    }
    // Aliases: `alias/name` or `arn:aws:kms:<region>:<account>:alias/name` -> first key.
    if (raw.startsWith('alias/') || /^arn:aws:kms:[^:]*:[^:]*:alias\//.test(raw)) return this.keyIds[0];
    const arnMatch = /^arn:aws:kms:[^:]*:[^:]*:key\/(.+)$/.exec(raw);
    const id = arnMatch ? arnMatch[1] : raw;
    if (!this.masterKeys.has(id)) throw new KmsError('NotFoundException', `Key '${keyArn(id)}' does not exist`);
    return id;
  }

  encrypt(keyId: string, plaintext: Buffer, context: Record<string, string>): Buffer {
    const keyIdBytes = Buffer.from(keyId, 'utf8');
    const header = Buffer.concat([Buffer.from([BLOB_VERSION, keyIdBytes.length]), keyIdBytes]);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.masterKeys.get(keyId)!, iv);
    cipher.setAAD(Buffer.concat([header, canonicalContext(context)]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
  }

  decrypt(blob: Buffer, context: Record<string, string>): { keyId: string; plaintext: Buffer } {
    const invalid = (): KmsError => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid');
    if (blob.length < 2 || blob[0] !== BLOB_VERSION) throw invalid();
    const headerLength = 2 + blob[1];
    if (blob.length < headerLength + IV_BYTES + TAG_BYTES) throw invalid();
    const header = blob.subarray(0, headerLength);
    const keyId = blob.subarray(2, headerLength).toString('utf8');
    // A blob naming a key this store does not hold is simply not our ciphertext.
    const masterKey = this.masterKeys.get(keyId);
    if (!masterKey) throw invalid();
    const iv = blob.subarray(headerLength, headerLength + IV_BYTES);
    const body = blob.subarray(headerLength + IV_BYTES, blob.length - TAG_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', masterKey, iv);
      decipher.setAAD(Buffer.concat([header, canonicalContext(context)]));
      decipher.setAuthTag(tag);
      return { keyId, plaintext: Buffer.concat([decipher.update(body), decipher.final()]) };
    } catch {
      // Wrong key material, wrong encryption context or tampered bytes all look the same.
      throw invalid();
    }
  }
}

type KmsOperation = (input: Json) => Json;

/** The supported operations by name (the part of X-Amz-Target after `TrentService.`). */
function kmsOperations(keyring: LocalKeyring): Record<string, KmsOperation> {
  return {
    GenerateDataKey(input) {
      const keyId = keyring.resolveKeyId(input.KeyId);
      const context = readContext(input.EncryptionContext);
      const size = dataKeySize(input.KeySpec, input.NumberOfBytes);
      const plaintext = randomBytes(size);
      return {
        CiphertextBlob: keyring.encrypt(keyId, plaintext, context).toString('base64'),
        Plaintext: plaintext.toString('base64'),
        KeyId: keyArn(keyId),
      };
    },
    Encrypt(input) {
      const keyId = keyring.resolveKeyId(input.KeyId);
      const plaintext = readBlob(input.Plaintext, 'Plaintext', MAX_PLAINTEXT_BYTES);
      const context = readContext(input.EncryptionContext);
      checkAlgorithm(input.EncryptionAlgorithm);
      return {
        CiphertextBlob: keyring.encrypt(keyId, plaintext, context).toString('base64'),
        KeyId: keyArn(keyId),
        EncryptionAlgorithm: ALGORITHM,
      };
    },
    Decrypt(input) {
      const blob = readBlob(input.CiphertextBlob, 'CiphertextBlob', 6144);
      const context = readContext(input.EncryptionContext);
      checkAlgorithm(input.EncryptionAlgorithm);
      // Resolve the requested key first so an unknown KeyId is NotFoundException, as in KMS.
      const requestedKeyId = input.KeyId === undefined ? undefined : keyring.resolveKeyId(input.KeyId);
      const { keyId, plaintext } = keyring.decrypt(blob, context);
      if (requestedKeyId !== undefined && requestedKeyId !== keyId) {
        throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext');
      }
      return { Plaintext: plaintext.toString('base64'), KeyId: keyArn(keyId), EncryptionAlgorithm: ALGORITHM };
    },
  };
}

async function handleKmsRequest(
  req: IncomingMessage,
  res: ServerResponse,
  operations: Record<string, KmsOperation>,
  counts: KmsCallCounts,
): Promise<void> {
  try {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) {
      throw new KmsError('UnknownOperationException', 'Expected POST with an X-Amz-Target: TrentService.<Operation> header');
    }
    const operationName = target.slice(TARGET_PREFIX.length);
    counts.total++;
    const operation = Object.hasOwn(operations, operationName) ? operations[operationName] : undefined;
    if (!operation) throw new KmsError('UnknownOperationException', `Operation '${operationName}' is not supported by the local KMS`);
    counts[operationName as keyof Omit<KmsCallCounts, 'total'>]++;
    const input = parseBody(await readBody(req));
    send(res, 200, operation(input));
  } catch (err) {
    if (err instanceof KmsError) {
      send(res, 400, { __type: err.type, message: err.message }, err.type);
    } else {
      // Unexpected bug: answer generically, never with details that could carry secrets.
      send(res, 500, { __type: 'KMSInternalException', message: 'Internal error in the local KMS' }, 'KMSInternalException');
    }
  }
}

function emptyCounts(): KmsCallCounts {
  return { GenerateDataKey: 0, Encrypt: 0, Decrypt: 0, total: 0 };
}

/** Loads master keys from keyFile (if given), creating any missing ones and persisting them. */
function loadOrCreateKeys(keyIds: string[], keyFile: string | undefined): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  if (keyFile && existsSync(keyFile)) {
    const stored = JSON.parse(readFileSync(keyFile, 'utf8')) as { keys?: Record<string, string> };
    for (const [id, material] of Object.entries(stored.keys ?? {})) {
      const key = Buffer.from(material, 'base64');
      // Refuse a damaged file rather than silently replacing keys (that would orphan old data).
      if (key.length !== MASTER_KEY_BYTES) throw new Error(`Local KMS key file ${keyFile} has a malformed key '${id}'`);
      keys.set(id, key);
    }
  }
  let changed = false;
  for (const id of keyIds) {
    if (!keys.has(id)) {
      keys.set(id, randomBytes(MASTER_KEY_BYTES));
      changed = true;
    }
  }
  if (keyFile && changed) {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    const json = JSON.stringify({ version: 1, keys: Object.fromEntries([...keys].map(([id, k]) => [id, k.toString('base64')])) }, null, 2);
    // Write then rename so a crash never leaves a half-written key file.
    const tmp = `${keyFile}.${process.pid}.tmp`;
    writeFileSync(tmp, json, { mode: 0o600 });
    chmodSync(tmp, 0o600); // the mode option is filtered by umask on some systems
    renameSync(tmp, keyFile);
  }
  // Only the configured keys are served, even if the file holds others.
  return new Map(keyIds.map((id) => [id, keys.get(id)!]));
}

/** Canonical encryption context: entries sorted by key, so {a,b} and {b,a} match. Empty = absent. */
function canonicalContext(context: Record<string, string>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function readContext(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new KmsError('ValidationException', 'EncryptionContext must be a map of strings');
  }
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') throw new KmsError('ValidationException', 'EncryptionContext values must be strings');
  }
  return value as Record<string, string>;
}

function readBlob(value: unknown, name: string, maxBytes: number): Buffer {
  if (typeof value !== 'string' || value.length === 0) {
    throw new KmsError('ValidationException', `${name} is required and must be base64`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === 0 || bytes.length > maxBytes) {
    throw new KmsError('ValidationException', `${name} must be between 1 and ${maxBytes} bytes`);
  }
  return bytes;
}

function dataKeySize(keySpec: unknown, numberOfBytes: unknown): number {
  if (keySpec !== undefined && numberOfBytes !== undefined) {
    throw new KmsError('ValidationException', 'Specify either KeySpec or NumberOfBytes, not both');
  }
  if (keySpec === 'AES_256') return 32;
  if (keySpec === 'AES_128') return 16;
  if (keySpec !== undefined) throw new KmsError('ValidationException', 'KeySpec must be AES_256 or AES_128');
  if (typeof numberOfBytes === 'number' && Number.isInteger(numberOfBytes) && numberOfBytes >= 1 && numberOfBytes <= 1024) {
    return numberOfBytes;
  }
  throw new KmsError('ValidationException', 'KeySpec or NumberOfBytes (1-1024) is required');
}

function checkAlgorithm(value: unknown): void {
  if (value !== undefined && value !== ALGORITHM) {
    throw new KmsError('ValidationException', `Only the ${ALGORITHM} encryption algorithm is supported`);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Over the limit: stop buffering and answer at once; Node discards the rest.
      if (size > MAX_BODY_BYTES) reject(new KmsError('ValidationException', 'Request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(body: Buffer): Json {
  let parsed: unknown;
  try {
    parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    // What AWS answers for a body that is not JSON.
    throw new KmsError('SerializationException', 'Request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KmsError('SerializationException', 'Request body must be a JSON object');
  }
  return parsed as Json;
}

function send(res: ServerResponse, status: number, body: Json, errorType?: string): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': randomUUID() };
  if (errorType) headers['x-amzn-errortype'] = errorType;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}
