/** Signing keys around a rotation, for the handlers' tests: the cached keyring predates it, a fresh read sees the new key. */
import type { SigningKeyProvider } from '../../functions/domain/ports';
import { parseKeyring } from '../../functions/domain/signing';

export const OLD_KEYRING = parseKeyring(JSON.stringify({ active: 'k1', k1: 'a'.repeat(40) }));
export const NEW_KEYRING = parseKeyring(JSON.stringify({ active: 'k2', k1: 'a'.repeat(40), k2: 'b'.repeat(40) }));

/** A keyring cached from before the rotation; a fresh read sees the new key. `freshReads` counts them. */
export function rotatingKeys(): SigningKeyProvider & { freshReads: number } {
  const provider = {
    freshReads: 0,
    async keyring(options?: { fresh?: boolean }) {
      if (!options?.fresh) return OLD_KEYRING;
      provider.freshReads += 1;
      return NEW_KEYRING;
    },
  };
  return provider;
}
