/**
 * Secrets from Secrets Manager, fetched on first use and cached for a few minutes, so a warm
 * function makes no Secrets Manager call and a rotated secret is picked up without a redeploy.
 *
 * The SDK's own client (./secrets-manager.ts), made on the first read. Concurrent reads of an
 * expired secret share one call; a failed call is not cached.
 */
import { readFile } from 'node:fs/promises';
import type { SecretSource } from '../config';
import { TIMING } from '../domain/timing';
import { parseKeyring } from '../domain/signing';
import { parseRecallVerificationSecrets, type RecallVerificationKeys } from '../domain/recall-signature';
import type { SigningKeyProvider, SigningKeyring } from '../domain/ports';
import { getSecretString } from './secrets-manager';

type SecretRead = (options?: { forceFetch?: boolean }) => Promise<string>;

/** `read` cached for `maxAgeMs` (or until forced), one read at a time; a failed read is forgotten. */
function cached(read: () => Promise<string>, maxAgeMs: number, clock: () => number = Date.now): SecretRead {
  let last: { value: Promise<string>; readAt: number } | undefined;
  return (options) => {
    const now = clock();
    if (!last || options?.forceFetch || now - last.readAt >= maxAgeMs) {
      const value = read();
      last = { value, readAt: now };
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

/** Reads a secret string: the configured value itself, or Secrets Manager's, cached. */
export function secretReader(source: SecretSource, clock: () => number = Date.now): SecretRead {
  if (source.kind === 'value') return async () => source.ref;
  return cached(() => getSecretString(source.ref), TIMING.secretMaxAgeMs, clock);
}

/**
 * A secret parsed once per value read. A fresh read (for a signature the cached value cannot
 * verify: a rotation, a value just put) is granted at most once per `keyringRefreshMinIntervalMs`:
 * a flood of forged requests must not turn into a flood of Secrets Manager calls.
 */
function parsedSecret<T>(read: SecretRead, parse: (raw: string) => T, clock: () => number): (options?: { fresh?: boolean }) => Promise<T> {
  let parsed: { raw: string; value: T } | undefined;
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  return async (options) => {
    const force = options?.fresh === true && clock() - lastForcedAt >= TIMING.keyringRefreshMinIntervalMs;
    if (force) lastForcedAt = clock();
    const raw = await read({ forceFetch: force });
    if (parsed?.raw !== raw) parsed = { raw, value: parse(raw) };
    return parsed.value;
  };
}

/** Signing keys from Secrets Manager (AWS) or a JSON file in the data directory (local runtime). */
export function signingKeyProvider(source: { secretId: string } | { file: string }, clock: () => number = Date.now): SigningKeyProvider {
  // The local runtime's key file is re-read at most once a second (or when forced), so edits apply without a restart.
  const read =
    'file' in source
      ? cached(() => readFile(source.file, 'utf8'), 1_000)
      : secretReader({ kind: 'secrets-manager', ref: source.secretId }, clock);
  const keyring: (options?: { fresh?: boolean }) => Promise<SigningKeyring> = parsedSecret(read, parseKeyring, clock);
  return { keyring };
}

/**
 * Recall's verification secret(s): the value itself (local runtime) or Secrets Manager through
 * the cache. A placeholder or a malformed value is a result, not an error: the check then counts
 * every request, and refuses them in enforce mode.
 */
export function recallVerificationKeyReader(
  source: SecretSource,
  clock: () => number = Date.now,
): (options?: { fresh?: boolean }) => Promise<RecallVerificationKeys> {
  return parsedSecret(secretReader(source, clock), parseRecallVerificationSecrets, clock);
}
