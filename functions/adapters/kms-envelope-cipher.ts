/**
 * Envelope encryption on node:crypto and KMS. A data key from KMS GenerateDataKey encrypts
 * each record with AES-256-GCM (fresh random IV, AAD binding the format version and the record's
 * owner: user, registration and token generation);
 * the KMS-encrypted data key is stored beside the ciphertext.
 *
 * KMS is billed per call and rate limited, so data keys are cached the way the AWS Encryption
 * SDK's caching materials manager does it: a writer reuses one data key for a bounded time and
 * number of records, and readers keep decrypted data keys for a bounded time. A warm reader of
 * a known data key makes no KMS call.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { ENCRYPTION_CONTEXT } from '../contract';
import { UnreadableRecordError } from '../domain/errors';
import type { Clock, SealedTokens, Sealer, TokenCipher } from '../domain/ports';
import { SEALED_FORMAT, sealedPairAad, type SealOwner, type TokenPair } from '../domain/token-record';

/** The format every seal writes; SEALED_FORMAT.legacy is still opened. */
export const FORMAT_VERSION = SEALED_FORMAT.current;
/** Names the purpose of every data key; IAM policies require it (kms:EncryptionContext:purpose). */
export { ENCRYPTION_CONTEXT };

export interface EnvelopeCipherOptions {
  kms: KMSClient;
  keyId: string;
  clock?: Clock;
  /** How long a writer reuses one data key. */
  dataKeyMaxAgeMs?: number;
  /** How many records a writer seals with one data key. */
  dataKeyMaxUses?: number;
  /** How long a reader keeps a decrypted data key. */
  decryptedKeyMaxAgeMs?: number;
  /** How many decrypted data keys a reader keeps. */
  decryptedKeyCacheSize?: number;
}

interface WriterKey {
  plaintext: Buffer;
  encrypted: Uint8Array;
  createdAt: number;
  uses: number;
}

interface CachedKey {
  key: Promise<Buffer>;
  expiresAt: number;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KmsEnvelopeCipher implements TokenCipher {
  private readonly clock: Clock;
  private readonly dataKeyMaxAgeMs: number;
  private readonly dataKeyMaxUses: number;
  private readonly decryptedKeyMaxAgeMs: number;
  private readonly decryptedKeyCacheSize: number;
  private writerKey?: Promise<WriterKey>;
  /** Decrypted data keys by their encrypted form (base64); Map order doubles as LRU order. */
  private readonly readerKeys = new Map<string, CachedKey>();

  constructor(private readonly options: EnvelopeCipherOptions) {
    this.clock = options.clock ?? Date.now;
    this.dataKeyMaxAgeMs = options.dataKeyMaxAgeMs ?? 5 * 60_000;
    this.dataKeyMaxUses = options.dataKeyMaxUses ?? 10_000;
    this.decryptedKeyMaxAgeMs = options.decryptedKeyMaxAgeMs ?? 15 * 60_000;
    this.decryptedKeyCacheSize = options.decryptedKeyCacheSize ?? 1_000;
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

  async open(owner: SealOwner, sealed: SealedTokens): Promise<TokenPair> {
    if (sealed.formatVersion !== FORMAT_VERSION && sealed.formatVersion !== SEALED_FORMAT.legacy) {
      throw new UnreadableRecordError('unknown record format');
    }
    if (sealed.iv.length !== IV_BYTES || sealed.ciphertext.length <= TAG_BYTES) {
      throw new UnreadableRecordError('malformed sealed record');
    }
    const key = await this.readerKey(sealed.encryptedDataKey);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
      decipher.setAAD(sealedPairAad(sealed.formatVersion, owner));
      const split = sealed.ciphertext.length - TAG_BYTES;
      decipher.setAuthTag(sealed.ciphertext.subarray(split));
      const body = Buffer.concat([decipher.update(sealed.ciphertext.subarray(0, split)), decipher.final()]);
      const { a, r, s } = JSON.parse(body.toString('utf8')) as { a: string; r: string; s?: string };
      return { accessToken: a, refreshToken: r, ...(s === undefined ? {} : { scope: s }) };
    } catch {
      // GCM authentication failed: tampered, or sealed for another record. Say no more than that.
      throw new UnreadableRecordError('sealed record failed authentication');
    }
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

  private readerKey(encryptedDataKey: Uint8Array): Promise<Buffer> {
    const id = Buffer.from(encryptedDataKey).toString('base64');
    const now = this.clock();
    const cached = this.readerKeys.get(id);
    if (cached && cached.expiresAt > now) {
      this.readerKeys.delete(id);
      this.readerKeys.set(id, cached);
      return cached.key;
    }
    const key = this.decryptDataKey(encryptedDataKey);
    this.remember(id, key, now);
    // A failed Decrypt is not cached: the next read asks KMS again.
    key.catch(() => this.readerKeys.get(id)?.key === key && this.readerKeys.delete(id));
    return key;
  }

  private async decryptDataKey(encryptedDataKey: Uint8Array): Promise<Buffer> {
    try {
      const answer = await this.options.kms.send(
        new DecryptCommand({ KeyId: this.options.keyId, CiphertextBlob: encryptedDataKey, EncryptionContext: { ...ENCRYPTION_CONTEXT } }),
      );
      if (answer.Plaintext?.length !== 32) throw new UnreadableRecordError('KMS returned no data key');
      return Buffer.from(answer.Plaintext);
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException' || name === 'NotFoundException') {
        throw new UnreadableRecordError(`data key rejected by KMS (${name})`);
      }
      throw error;
    }
  }

  private remember(id: string, key: Promise<Buffer>, now: number): void {
    this.readerKeys.delete(id);
    this.readerKeys.set(id, { key, expiresAt: now + this.decryptedKeyMaxAgeMs });
    while (this.readerKeys.size > this.decryptedKeyCacheSize) {
      const oldest = this.readerKeys.keys().next().value as string;
      this.readerKeys.delete(oldest);
    }
  }
}
