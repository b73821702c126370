import { DecryptCommand, EncryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KmsServer, startKmsServer } from '../../local/kms/kms-server';

const KEY_ID = 'local-token-key';
const CONTEXT = { tenant: 'acme', purpose: 'zoom-token' };

function clientFor(server: KmsServer): KMSClient {
  return new KMSClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
    maxAttempts: 1,
  });
}

/** Runs fn, expecting it to reject; returns the error so its fields can be asserted. */
async function errorFrom(fn: () => Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('local KMS server', () => {
  let dir: string;
  let server: KmsServer;
  let kms: KMSClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kms-server-test-'));
    server = await startKmsServer({ keyFile: join(dir, 'keys', 'kms-keys.json') });
    kms = clientFor(server);
  });

  afterAll(async () => {
    kms.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => server.resetCounts());

  it('listens on a free port and reports key ARNs', () => {
    // Assess
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.keyArn(KEY_ID)).toBe(`arn:aws:kms:us-east-1:000000000000:key/${KEY_ID}`);
  });

  it('GenerateDataKey returns a 32-byte key whose blob decrypts to the same bytes', async () => {
    // Act
    const generated = await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, KeySpec: 'AES_256', EncryptionContext: CONTEXT }));
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: CONTEXT }));

    // Assess
    expect(generated.Plaintext).toHaveLength(32);
    expect(generated.KeyId).toBe(server.keyArn(KEY_ID));
    expect(Buffer.from(generated.CiphertextBlob!).equals(Buffer.from(generated.Plaintext!))).toBe(false);
    expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(generated.Plaintext!))).toBe(true);
    expect(decrypted.KeyId).toBe(server.keyArn(KEY_ID));
  });

  it('GenerateDataKey honours NumberOfBytes and returns fresh keys each call', async () => {
    // Act
    const a = await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, NumberOfBytes: 24 }));
    const b = await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, NumberOfBytes: 24 }));

    // Assess
    expect(a.Plaintext).toHaveLength(24);
    expect(Buffer.from(a.Plaintext!).equals(Buffer.from(b.Plaintext!))).toBe(false);
  });

  it('Encrypt/Decrypt round trips, with the context keys in any order', async () => {
    // Prepare
    const plaintext = Buffer.from('zoom refresh token 1234', 'utf8');

    // Act
    const encrypted = await kms.send(new EncryptCommand({ KeyId: KEY_ID, Plaintext: plaintext, EncryptionContext: CONTEXT }));
    const decrypted = await kms.send(
      new DecryptCommand({
        CiphertextBlob: encrypted.CiphertextBlob,
        EncryptionContext: { purpose: 'zoom-token', tenant: 'acme' },
        KeyId: KEY_ID,
      }),
    );

    // Assess
    expect(encrypted.KeyId).toBe(server.keyArn(KEY_ID));
    expect(encrypted.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
    expect(Buffer.from(encrypted.CiphertextBlob!).includes(plaintext)).toBe(false);
    expect(Buffer.from(decrypted.Plaintext!).toString('utf8')).toBe('zoom refresh token 1234');
    expect(decrypted.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
  });

  it('accepts the key ARN and an alias as KeyId', async () => {
    // Act
    const byArn = await kms.send(new EncryptCommand({ KeyId: server.keyArn(KEY_ID), Plaintext: Buffer.from('x') }));
    const byAlias = await kms.send(new EncryptCommand({ KeyId: 'alias/zoom-tokens', Plaintext: Buffer.from('y') }));

    // Assess
    expect(byArn.KeyId).toBe(server.keyArn(KEY_ID));
    expect(byAlias.KeyId).toBe(server.keyArn(KEY_ID));
  });

  it('rejects Decrypt with a different or missing encryption context', async () => {
    // Prepare
    const { CiphertextBlob } = await kms.send(
      new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from('secret'), EncryptionContext: CONTEXT }),
    );

    // Act
    const wrong = await errorFrom(() =>
      kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { ...CONTEXT, tenant: 'other' } })),
    );
    const missing = await errorFrom(() => kms.send(new DecryptCommand({ CiphertextBlob })));

    // Assess
    expect(wrong.name).toBe('InvalidCiphertextException');
    expect(wrong.$metadata?.httpStatusCode).toBe(400);
    expect(missing.name).toBe('InvalidCiphertextException');
    expect(wrong.message).not.toContain('secret');
  });

  it('rejects a tampered blob', async () => {
    // Prepare
    const { CiphertextBlob } = await kms.send(
      new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from('secret'), EncryptionContext: CONTEXT }),
    );
    const tampered = Buffer.from(CiphertextBlob!);
    tampered[tampered.length - 20] ^= 0x01; // a ciphertext byte, just before the tag

    // Act
    const err = await errorFrom(() => kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: CONTEXT })));

    // Assess
    expect(err.name).toBe('InvalidCiphertextException');
  });

  it('answers NotFoundException for an unknown key', async () => {
    // Act
    const byId = await errorFrom(() => kms.send(new EncryptCommand({ KeyId: 'no-such-key', Plaintext: Buffer.from('x') })));
    const byArn = await errorFrom(() => kms.send(new GenerateDataKeyCommand({ KeyId: server.keyArn('no-such-key'), KeySpec: 'AES_256' })));

    // Assess
    expect(byId.name).toBe('NotFoundException');
    expect(byArn.name).toBe('NotFoundException');
  });

  it('answers ValidationException for missing parameters', async () => {
    // Act
    const noSize = await errorFrom(() => kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID })));

    // Assess
    expect(noSize.name).toBe('ValidationException');
    expect(noSize.$metadata?.httpStatusCode).toBe(400);
  });

  it('answers KMS-style errors to raw requests without a target or with an unknown operation', async () => {
    // Act
    const noTarget = await fetch(server.url, { method: 'POST', body: '{}' });
    const unknownOp = await fetch(server.url, {
      method: 'POST',
      headers: { 'x-amz-target': 'TrentService.ScheduleKeyDeletion', 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });

    // Assess
    expect(noTarget.status).toBe(400);
    expect(noTarget.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(((await noTarget.json()) as { __type: string }).__type).toBe('UnknownOperationException');
    expect(unknownOp.status).toBe(400);
    expect(((await unknownOp.json()) as { __type: string }).__type).toBe('UnknownOperationException');
  });

  it('counts calls per operation, including failed ones, until reset', async () => {
    // Prepare
    const { CiphertextBlob } = await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, KeySpec: 'AES_256' }));
    await kms.send(new GenerateDataKeyCommand({ KeyId: KEY_ID, KeySpec: 'AES_256' }));
    await kms.send(new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from('x') }));
    await kms.send(new DecryptCommand({ CiphertextBlob }));
    await errorFrom(() => kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: CONTEXT })));

    // Act
    const counted = server.counts();
    server.resetCounts();
    const afterReset = server.counts();

    // Assess
    expect(counted).toEqual({ GenerateDataKey: 2, Encrypt: 1, Decrypt: 2, total: 5 });
    expect(afterReset).toEqual({ GenerateDataKey: 0, Encrypt: 0, Decrypt: 0, total: 0 });
  });

  it('persists the master key (mode 0600) so blobs still decrypt after a restart', async () => {
    // Prepare
    const keyFile = join(dir, 'restart', 'keys.json');
    const first = await startKmsServer({ keyFile });
    const firstClient = clientFor(first);
    const { CiphertextBlob } = await firstClient.send(
      new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from('survives restarts'), EncryptionContext: CONTEXT }),
    );
    firstClient.destroy();
    await first.close();
    const fileAfterFirstStart = readFileSync(keyFile, 'utf8');

    // Act
    const second = await startKmsServer({ keyFile });
    const secondClient = clientFor(second);
    try {
      const decrypted = await secondClient.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: CONTEXT }));

      // Assess
      expect(Buffer.from(decrypted.Plaintext!).toString('utf8')).toBe('survives restarts');
      expect(readFileSync(keyFile, 'utf8')).toBe(fileAfterFirstStart);
      if (process.platform !== 'win32') expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    } finally {
      secondClient.destroy();
      await second.close();
    }
  });

  it("a server with a different key file cannot decrypt the first one's blobs", async () => {
    // Prepare
    const other = await startKmsServer({ keyFile: join(dir, 'other', 'keys.json') });
    const otherClient = clientFor(other);
    const { CiphertextBlob } = await kms.send(
      new EncryptCommand({ KeyId: KEY_ID, Plaintext: Buffer.from('not yours'), EncryptionContext: CONTEXT }),
    );

    try {
      // Act
      const err = await errorFrom(() => otherClient.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: CONTEXT })));

      // Assess
      expect(err.name).toBe('InvalidCiphertextException');
    } finally {
      otherClient.destroy();
      await other.close();
    }
  });
});
