/**
 * One signing scheme, a purpose per URL kind: callback URLs keep their v1/v2 strings (every URL
 * already handed to Recall stays valid), bot-token URLs sign their kind, meeting and expiry, and
 * no signature verifies for another purpose.
 */
import { createHmac } from 'node:crypto';
import { BOT_TOKEN_KINDS, type BotTokenKind } from '../../functions/contract';
import { InvalidSignatureError } from '../../functions/domain/errors';
import {
  type BotTokenParameters,
  parseKeyring,
  signBotTokenUrl,
  signCallbackUrl,
  UnknownSigningKeyError,
  verifyBotTokenSignature,
  verifyCallbackSignature,
} from '../../functions/domain/signing';
import { LEGACY_REGISTRATION_ID } from '../../functions/domain/token-record';
import { botTokenParamsOf } from '../support/bot-token-urls';

const KEY = 'b'.repeat(40);
const keyring = parseKeyring(JSON.stringify({ active: 'k2', k1: 'a'.repeat(40), k2: KEY }));
const REG = '0b7f6f0e-2d4c-4a57-9d0e-5f1f0e6b1c21';
const NOW = Date.parse('2030-01-01T00:00:00Z');
const EXP = NOW / 1000 + 86_400;
const subject = { userId: 'alice', registrationId: REG, meetingId: '85746065432', expiresAtSeconds: EXP };
const hmac = (text: string) => createHmac('sha256', Buffer.from(KEY, 'utf8')).update(text).digest('base64url');

const paramsOf = botTokenParamsOf;

describe('callback URLs keep their signed strings', () => {
  it('v2 (with a registration) and v1 (legacy records) sign exactly the strings they always did', () => {
    // Act
    const v2 = signCallbackUrl('https://vault.test/zoom/token', { userId: 'alice', registrationId: REG }, keyring);
    const v1 = signCallbackUrl('https://vault.test/zoom/token', { userId: 'alice', registrationId: LEGACY_REGISTRATION_ID }, keyring);

    // Assess
    expect(v2.searchParams.get('sig')).toBe(hmac(`zoom-token-callback:v2:k2:alice:${REG}`));
    expect(v1.searchParams.get('sig')).toBe(hmac('zoom-token-callback:v1:k2:alice'));
    expect(v1.searchParams.has('reg')).toBe(false);
  });
});

describe('bot-token URLs', () => {
  it.each(BOT_TOKEN_KINDS)('a %s URL carries the documented parameters and verifies back to its subject', (kind) => {
    // Act
    const url = signBotTokenUrl('https://vault.test/zoom/x', kind, subject, keyring);

    // Assess
    expect([...url.searchParams.keys()]).toEqual(['user_id', 'reg', 'meeting_id', 'exp', 'kid', 'sig']);
    expect(url.searchParams.get('sig')).toBe(hmac(`zoom-bot-token:v1:${kind}:k2:alice:${REG}:85746065432:${EXP}`));
    expect(verifyBotTokenSignature(kind, paramsOf(url), keyring, NOW)).toEqual(subject);
  });

  it('no signature verifies for another purpose: kind to kind, bot URL to callback, callback to bot URL', () => {
    // Prepare
    const obf = signBotTokenUrl('https://vault.test/zoom/obf', 'obf', subject, keyring);
    const callback = signCallbackUrl('https://vault.test/zoom/token', subject, keyring);
    const asCallback = { userId: 'alice', registrationId: REG, keyId: 'k2', signature: obf.searchParams.get('sig')! };
    const callbackAsBot = { ...paramsOf(obf), signature: callback.searchParams.get('sig')! };

    // Act / Assess
    for (const other of ['zak', 'join_token'] as BotTokenKind[]) {
      expect(() => verifyBotTokenSignature(other, paramsOf(obf), keyring, NOW)).toThrow(InvalidSignatureError);
    }
    expect(() => verifyCallbackSignature(asCallback, keyring)).toThrow(InvalidSignatureError);
    expect(() => verifyBotTokenSignature('obf', callbackAsBot, keyring, NOW)).toThrow(InvalidSignatureError);
  });

  it.each<[string, (p: BotTokenParameters) => BotTokenParameters]>([
    ['another meeting', (p) => ({ ...p, meetingId: '85746065433' })],
    ['a later expiry', (p) => ({ ...p, expiresAt: String(EXP + 1) })],
    ['another user', (p) => ({ ...p, userId: 'bob' })],
    ['another registration', (p) => ({ ...p, registrationId: '1c2d3e4f-0000-4000-8000-000000000000' })],
    ['the meeting id with a leading zero', (p) => ({ ...p, meetingId: `0${p.meetingId}` })],
    ['the expiry with a leading zero', (p) => ({ ...p, expiresAt: `0${p.expiresAt}` })],
    ['a meeting id with a separator', (p) => ({ ...p, meetingId: '857460:65432' })],
    ['a meeting id too short', (p) => ({ ...p, meetingId: '12345678' })],
    ['an expiry that is not a number', (p) => ({ ...p, expiresAt: '1e12' })],
    ['a flipped signature', (p) => ({ ...p, signature: (p.signature[0] === 'A' ? 'B' : 'A') + p.signature.slice(1) })],
    ['no registration', (p) => ({ ...p, registrationId: '' })],
  ])('refuses %s', (_name, change) => {
    // Prepare
    const url = signBotTokenUrl('https://vault.test/zoom/obf', 'obf', subject, keyring);

    // Act / Assess
    expect(() => verifyBotTokenSignature('obf', change(paramsOf(url)), keyring, NOW)).toThrow(InvalidSignatureError);
  });

  it('works until its expiry and not at it', () => {
    // Prepare
    const url = signBotTokenUrl('https://vault.test/zoom/zak', 'zak', subject, keyring);

    // Act / Assess
    expect(verifyBotTokenSignature('zak', paramsOf(url), keyring, EXP * 1000 - 1)).toEqual(subject);
    expect(() => verifyBotTokenSignature('zak', paramsOf(url), keyring, EXP * 1000)).toThrow(InvalidSignatureError);
  });

  it('names an unknown key id as such, so the caller can read a fresher keyring once', () => {
    // Prepare
    const newer = parseKeyring(JSON.stringify({ active: 'k3', k3: 'c'.repeat(40) }));
    const url = signBotTokenUrl('https://vault.test/zoom/obf', 'obf', subject, newer);

    // Act / Assess
    expect(() => verifyBotTokenSignature('obf', paramsOf(url), keyring, NOW)).toThrow(UnknownSigningKeyError);
  });

  it('refuses to sign a meeting id that is not a Zoom meeting number', () => {
    expect(() => signBotTokenUrl('https://vault.test/zoom/obf', 'obf', { ...subject, meetingId: '123' }, keyring)).toThrow(
      'meeting id outside the safe pattern',
    );
  });
});
