/**
 * Opening envelope-encrypted records (./kms-envelope-cipher.ts seals them): the data key
 * decrypted by KMS, then AES-256-GCM with the format version and the record's owner (user,
 * registration, token generation) as AAD; pairs sealed in the legacy format 1 still open. Decrypted data
 * keys are kept for a bounded time and number, as the AWS Encryption SDK's caching materials
 * manager keeps them: a warm reader of a known data key makes no KMS call. All the callback and
 * the bot-token routes do with KMS, so their bundles hold this and the Decrypt command only.
 */
import { createDecipheriv } from 'node:crypto';
import { DecryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import { ENCRYPTION_CONTEXT } from '../contract';
import { UnreadableRecordError } from '../domain/errors';
import type { Clock, SealedTokens, TokenOpener } from '../domain/ports';
import { SEALED_FORMAT, sealedPairAad, type SealOwner, type TokenPair } from '../domain/token-record';

/** The format every seal writes; SEALED_FORMAT.legacy is still opened. */
export const FORMAT_VERSION = SEALED_FORMAT.current;

export interface EnvelopeOpenerOptions {
  kms: KMSClient;
  keyId: string;
  clock?: Clock;
  /** How long a reader keeps a decrypted data key. */
  decryptedKeyMaxAgeMs?: number;
  /** How many decrypted data keys a reader keeps. */
  decryptedKeyCacheSize?: number;
}

interface CachedKey {
  key: Promise<Buffer>;
  expiresAt: number;
}

export const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KmsEnvelopeOpener implements TokenOpener {
  protected readonly clock: Clock;
  private readonly decryptedKeyMaxAgeMs: number;
  private readonly decryptedKeyCacheSize: number;
  /** Decrypted data keys by their encrypted form (base64); Map order doubles as LRU order. */
  private readonly readerKeys = new Map<string, CachedKey>();

  constructor(protected readonly options: EnvelopeOpenerOptions) {
    this.clock = options.clock ?? Date.now;
    this.decryptedKeyMaxAgeMs = options.decryptedKeyMaxAgeMs ?? 15 * 60_000;
    this.decryptedKeyCacheSize = options.decryptedKeyCacheSize ?? 1_000;
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
      const body = decipher.update(sealed.ciphertext.subarray(0, split), undefined, 'utf8') + decipher.final('utf8');
      const { a, r, s } = JSON.parse(body) as { a: string; r: string; s?: string };
      return { accessToken: a, refreshToken: r, ...(s === undefined ? {} : { scope: s }) };
    } catch {
      // GCM authentication failed: tampered, or sealed for another record. Say no more than that.
      throw new UnreadableRecordError('sealed record failed authentication');
    }
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
        // The context names the purpose of every data key; IAM policies require it (kms:EncryptionContext:purpose).
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

  protected remember(id: string, key: Promise<Buffer>, now: number): void {
    this.readerKeys.delete(id);
    this.readerKeys.set(id, { key, expiresAt: now + this.decryptedKeyMaxAgeMs });
    while (this.readerKeys.size > this.decryptedKeyCacheSize) {
      const oldest = this.readerKeys.keys().next().value as string;
      this.readerKeys.delete(oldest);
    }
  }
}
