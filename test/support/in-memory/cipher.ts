/**
 * A TokenCipher with no KMS: AES-256-GCM under one fixed key, the owner (user, registration,
 * token generation) bound as AAD the way KmsEnvelopeCipher binds it (sealedPairAad), so a pair
 * copied to another record does not open (UnreadableRecordError). Counts its calls and can be told to fail the next calls of a method.
 * `prepare()` returns a Sealer that, like the real one, never fails: it has its data key in hand
 * (its seals are counted in `preparedSeals`, not in `counts.seal`).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { UnreadableRecordError } from '../../../functions/domain/errors';
import type { SealedTokens, Sealer, TokenCipher } from '../../../functions/domain/ports';
import { SEALED_FORMAT, sealedPairAad, type SealOwner, type TokenPair } from '../../../functions/domain/token-record';

export type CipherMethod = 'prepare' | 'seal' | 'open';

const FORMAT_VERSION = SEALED_FORMAT.current;
const DATA_KEY = Buffer.alloc(32, 0x5a);
/** What the record carries where KMS would put the encrypted data key. */
const DATA_KEY_NAME = Buffer.from('in-memory-data-key-1');
const TAG_BYTES = 16;

/** An error shaped like a throttled KMS call. */
export function kmsThrottled(): Error {
  const error = new Error('Rate exceeded');
  error.name = 'ThrottlingException';
  return error;
}

export class InMemoryCipher implements TokenCipher {
  readonly counts: Record<CipherMethod, number> = { prepare: 0, seal: 0, open: 0 };
  private readonly failures: Record<CipherMethod, Array<() => Error>> = { prepare: [], seal: [], open: [] };
  /** Seals made by the Sealers `prepare()` returned. */
  preparedSeals = 0;

  /** The next `count` calls of `method` throw `makeError()` (a throttled KMS call by default). */
  failNext(method: CipherMethod, count = 1, makeError: () => Error = kmsThrottled): void {
    for (let i = 0; i < count; i++) this.failures[method].push(makeError);
  }

  async prepare(): Promise<Sealer> {
    this.call('prepare');
    return {
      seal: (owner, tokens) => {
        this.preparedSeals += 1;
        return this.sealNow(owner, tokens);
      },
    };
  }

  async seal(owner: SealOwner, tokens: TokenPair): Promise<SealedTokens> {
    this.call('seal');
    return this.sealNow(owner, tokens);
  }

  private sealNow(owner: SealOwner, tokens: TokenPair): SealedTokens {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', DATA_KEY, iv);
    cipher.setAAD(sealedPairAad(FORMAT_VERSION, owner));
    const body = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return {
      formatVersion: FORMAT_VERSION,
      encryptedDataKey: new Uint8Array(DATA_KEY_NAME),
      iv: new Uint8Array(iv),
      ciphertext: new Uint8Array(body),
    };
  }

  async open(owner: SealOwner, sealed: SealedTokens): Promise<TokenPair> {
    this.call('open');
    if (sealed.formatVersion !== FORMAT_VERSION || !Buffer.from(sealed.encryptedDataKey).equals(DATA_KEY_NAME)) {
      throw new UnreadableRecordError('unknown format or data key');
    }
    const ciphertext = Buffer.from(sealed.ciphertext);
    if (ciphertext.length < TAG_BYTES) throw new UnreadableRecordError('sealed record too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', DATA_KEY, Buffer.from(sealed.iv));
      decipher.setAAD(sealedPairAad(sealed.formatVersion, owner));
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES)), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as TokenPair;
    } catch {
      throw new UnreadableRecordError('sealed record does not open for this record');
    }
  }

  private call(method: CipherMethod): void {
    this.counts[method] += 1;
    const failure = this.failures[method].shift();
    if (failure) throw failure();
  }
}
