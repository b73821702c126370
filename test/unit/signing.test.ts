import { InvalidSignatureError } from '../../functions/domain/errors';
import { parseKeyring, signCallbackUrl, verifyCallbackSignature } from '../../functions/domain/signing';

const keyring = parseKeyring(JSON.stringify({ active: 'k2', k1: 'a'.repeat(40), k2: 'b'.repeat(40) }));

const REG = '0b7f6f0e-2d4c-4a57-9d0e-5f1f0e6b1c21';
const subject = (userId: string, registrationId = REG) => ({ userId, registrationId });

function paramsOf(url: URL) {
  return {
    userId: url.searchParams.get('user_id')!,
    registrationId: url.searchParams.get('reg') ?? undefined,
    keyId: url.searchParams.get('kid')!,
    signature: url.searchParams.get('sig')!,
  };
}

describe('signed callback URLs', () => {
  it('signs with the active key and verifies back to the user id', () => {
    // Prepare / Act
    const url = signCallbackUrl('https://example.test/base/zoom/token', subject('user-0001'), keyring);
    // Assess
    expect(url.origin + url.pathname).toBe('https://example.test/base/zoom/token');
    expect(url.searchParams.get('kid')).toBe('k2');
    expect(url.searchParams.get('reg')).toBe(REG);
    expect(url.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyCallbackSignature(paramsOf(url), keyring)).toEqual(subject('user-0001'));
  });

  it('keeps URLs signed with an older key working while that key is in the keyring', () => {
    // Prepare
    const old = parseKeyring(JSON.stringify({ active: 'k1', k1: 'a'.repeat(40) }));
    const url = signCallbackUrl('https://example.test/zoom/token', subject('u1'), old);
    // Act / Assess
    expect(verifyCallbackSignature(paramsOf(url), keyring)).toEqual(subject('u1'));
    const retired = parseKeyring(JSON.stringify({ active: 'k2', k2: 'b'.repeat(40) }));
    expect(() => verifyCallbackSignature(paramsOf(url), retired)).toThrow(InvalidSignatureError);
  });

  it.each([
    ['another user id', (p: ReturnType<typeof paramsOf>) => ({ ...p, userId: 'user-0002' })],
    ['another key id', (p: ReturnType<typeof paramsOf>) => ({ ...p, keyId: 'k1' })],
    ['an unknown key id', (p: ReturnType<typeof paramsOf>) => ({ ...p, keyId: 'k9' })],
    [
      'a flipped signature character',
      (p: ReturnType<typeof paramsOf>) => ({ ...p, signature: (p.signature[0] === 'A' ? 'B' : 'A') + p.signature.slice(1) }),
    ],
    ['a truncated signature', (p: ReturnType<typeof paramsOf>) => ({ ...p, signature: p.signature.slice(0, 42) })],
    ['padding on the signature', (p: ReturnType<typeof paramsOf>) => ({ ...p, signature: `${p.signature}=` })],
    ['an empty signature', (p: ReturnType<typeof paramsOf>) => ({ ...p, signature: '' })],
    ['a unicode user id', (p: ReturnType<typeof paramsOf>) => ({ ...p, userId: 'üser-0001' })],
    ['a user id with a separator', (p: ReturnType<typeof paramsOf>) => ({ ...p, userId: 'k2:user-0001' })],
    ['a duplicated user id (joined by the gateway)', (p: ReturnType<typeof paramsOf>) => ({ ...p, userId: 'user-0001,user-0001' })],
    ['an oversized user id', (p: ReturnType<typeof paramsOf>) => ({ ...p, userId: 'u'.repeat(10_000) })],
    [
      'another registration of the same user',
      (p: ReturnType<typeof paramsOf>) => ({ ...p, registrationId: '1c2d3e4f-0000-4000-8000-000000000000' }),
    ],
    [
      'the registration dropped (a v1 URL for a v2 registration)',
      (p: ReturnType<typeof paramsOf>) => ({ ...p, registrationId: undefined }),
    ],
    ['the legacy marker as a registration', (p: ReturnType<typeof paramsOf>) => ({ ...p, registrationId: 'legacy' })],
  ])('rejects %s', (_name, tamper) => {
    // Prepare
    const good = paramsOf(signCallbackUrl('https://example.test/zoom/token', subject('user-0001'), keyring));
    // Act / Assess
    expect(() => verifyCallbackSignature(tamper(good), keyring)).toThrow(InvalidSignatureError);
  });

  it('accepts only the canonical encoding: the spare bits of the last character must be zero', () => {
    // Prepare: the same 32 bytes written four ways (the last character's two spare bits varied)
    const good = paramsOf(signCallbackUrl('https://example.test/zoom/token', subject('user-0001'), keyring));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(good.signature.at(-1)!);
    const variants = [1, 2, 3].map((spare) => good.signature.slice(0, -1) + alphabet[last + spare]);

    // Act / Assess: all four decode to the same bytes; only the canonical one opens the URL
    for (const variant of variants) {
      expect(Buffer.from(variant, 'base64url').equals(Buffer.from(good.signature, 'base64url'))).toBe(true);
      expect(() => verifyCallbackSignature({ ...good, signature: variant }, keyring)).toThrow(InvalidSignatureError);
    }
    expect(verifyCallbackSignature(good, keyring)).toEqual(subject('user-0001'));
  });

  it('keeps verifying URLs issued before registration ids (v1) as the legacy registration', () => {
    // Prepare: a v1 URL, signed over "zoom-token-callback:v1:<kid>:<user_id>"
    const v1 = signCallbackUrl('https://example.test/zoom/token', subject('user-0001', 'legacy'), keyring);

    // Act
    const verified = verifyCallbackSignature(paramsOf(v1), keyring);

    // Assess: no reg parameter, and it stands for the legacy registration only
    expect(v1.searchParams.has('reg')).toBe(false);
    expect(verified).toEqual(subject('user-0001', 'legacy'));
  });

  it('refuses to sign a user id outside the safe pattern', () => {
    expect(() => signCallbackUrl('https://example.test/zoom/token', subject('a b'), keyring)).toThrow('user id outside the safe pattern');
  });

  it.each([
    ['not JSON', 'nope'],
    ['no active key id', JSON.stringify({ k1: 'a'.repeat(40) })],
    ['an active key id that is missing', JSON.stringify({ active: 'k2', k1: 'a'.repeat(40) })],
    ['a short key', JSON.stringify({ active: 'k1', k1: 'short' })],
    ['a bad key id', JSON.stringify({ active: 'k 1', 'k 1': 'a'.repeat(40) })],
  ])('rejects a signing-key secret with %s', (_name, secret) => {
    expect(() => parseKeyring(secret)).toThrow();
  });
});
