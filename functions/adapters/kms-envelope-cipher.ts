/**
 * Envelope encryption on node:crypto and KMS. A data key from KMS GenerateDataKey encrypts
 * each record with AES-256-GCM (fresh random IV, AAD binding the format version and the record's
 * owner: user, registration and token generation); the KMS-encrypted data key is stored beside
 * the ciphertext. Opening is ./kms-envelope-opener.ts.
 *
 * KMS is billed per call and rate limited, so data keys are cached the way the AWS Encryption
 * SDK's caching materials manager does it: a writer reuses one data key for a bounded time and
 * number of records, and readers keep decrypted data keys for a bounded time. A warm reader of
 * a known data key makes no KMS call.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { ENCRYPTION_CONTEXT } from '../contract';
import type { SealedTokens, Sealer, TokenCipher } from '../domain/ports';
import { sealedPairAad, type SealOwner, type TokenPair } from '../domain/token-record';
import { type EnvelopeOpenerOptions, FORMAT_VERSION, IV_BYTES, KmsEnvelopeOpener } from './kms-envelope-opener';

/** Names the purpose of every data key; IAM policies require it (kms:EncryptionContext:purpose). */
export { ENCRYPTION_CONTEXT, FORMAT_VERSION };

export interface EnvelopeCipherOptions extends EnvelopeOpenerOptions {
  /** How long a writer reuses one data key. */
  dataKeyMaxAgeMs?: number;
  /** How many records a writer seals with one data key. */
  dataKeyMaxUses?: number;
}

interface WriterKey {
  plaintext: Buffer;
  encrypted: Uint8Array;
  createdAt: number;
  uses: number;
}

export class KmsEnvelopeCipher extends KmsEnvelopeOpener implements TokenCipher {
  private readonly dataKeyMaxAgeMs: number;
  private readonly dataKeyMaxUses: number;
  private writerKey?: Promise<WriterKey>;

  constructor(options: EnvelopeCipherOptions) {
    super(options);
    this.dataKeyMaxAgeMs = options.dataKeyMaxAgeMs ?? 5 * 60_000;
    this.dataKeyMaxUses = options.dataKeyMaxUses ?? 10_000;
  }

  async prepare(): Promise<Sealer> {
    // Counted as one use now; kept for this one refresh's answer whatever happens to the cache.
    const dataKey = await this.currentWriterKey(true);
    return { seal: (owner, tokens) => this.sealWith(dataKey, owner, tokens) };
  }

  async seal(owner: SealOwner, tokens: TokenPair): Promise<SealedTokens> {
    return this.sealWith(await this.currentWriterKey(true), owner, tokens);
  }

  private sealWith(dataKey: WriterKey, owner: SealOwner, tokens: TokenPair): SealedTokens {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv);
    cipher.setAAD(sealedPairAad(FORMAT_VERSION, owner));
    const body = JSON.stringify({ a: tokens.accessToken, r: tokens.refreshToken, s: tokens.scope });
    const ciphertext = Buffer.concat([cipher.update(body, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { formatVersion: FORMAT_VERSION, encryptedDataKey: dataKey.encrypted, iv, ciphertext };
  }

  private async currentWriterKey(use: boolean): Promise<WriterKey> {
    for (;;) {
      let pending = this.writerKey;
      if (!pending) {
        // One GenerateDataKey serves every concurrent writer that found no usable key.
        const generating = this.generateDataKey(this.clock());
        this.writerKey = pending = generating;
        generating.catch(() => {
          if (this.writerKey === generating) this.writerKey = undefined;
        });
      }
      const key = await pending;
      if (this.clock() - key.createdAt < this.dataKeyMaxAgeMs && key.uses < this.dataKeyMaxUses) {
        if (use) key.uses += 1;
        return key;
      }
      // Stale or used up: replace it, unless a concurrent writer already has.
      if (this.writerKey === pending) this.writerKey = undefined;
    }
  }

  private async generateDataKey(now: number): Promise<WriterKey> {
    const answer = await this.options.kms.send(
      new GenerateDataKeyCommand({ KeyId: this.options.keyId, KeySpec: 'AES_256', EncryptionContext: { ...ENCRYPTION_CONTEXT } }),
    );
    if (!answer.Plaintext || !answer.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
    const plaintext = Buffer.from(answer.Plaintext);
    // The writer's own reads of what it just wrote need no Decrypt.
    this.remember(Buffer.from(answer.CiphertextBlob).toString('base64'), Promise.resolve(plaintext), now);
    return { plaintext, encrypted: answer.CiphertextBlob, createdAt: now, uses: 0 };
  }
}
