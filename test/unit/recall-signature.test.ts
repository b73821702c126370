/**
 * Recall's request signature (Standard Webhooks) checked by the domain: the standard's own
 * published example, GETs with an empty body, the 5-minute window on both sides (an injected
 * time, never the machine's), several signatures and several secrets (a rotation), malformed
 * headers and unusable secrets. Signed here with node:crypto, independently of the verifier.
 */
import * as crypto from 'node:crypto';
import {
  parseRecallVerificationSecrets,
  type RecallSignatureHeaders,
  recallSignatureProblem,
  type RecallVerificationKeys,
} from '../../functions/domain/recall-signature';

// The real timingSafeEqual, counted.
jest.mock('node:crypto', () => {
  const actual = jest.requireActual('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});

const NOW = Date.parse('2030-01-01T00:00:00Z');
const SECONDS = String(NOW / 1000);
const SECRET_A = `whsec_${Buffer.alloc(32, 'a').toString('base64')}`;
const SECRET_B = `whsec_${Buffer.alloc(24, 'b').toString('base64')}`;
const SECRET_C = `whsec_${Buffer.alloc(32, 'c').toString('base64')}`;

/** v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with a `whsec_` secret's key. */
function v1(secret: string, id: string, timestamp: string, body = ''): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

function signed(secret: string, timestamp = SECONDS, id = 'msg_2zXwLQ8rDq0Kc7vJ'): RecallSignatureHeaders {
  return { id, timestamp, signature: v1(secret, id, timestamp) };
}

function keys(value: string): RecallVerificationKeys {
  const parsed = parseRecallVerificationSecrets(value);
  if ('unusable' in parsed) throw new Error(`test secret unusable: ${parsed.unusable}`);
  return parsed;
}

describe('a Recall signature verifies', () => {
  it("on the Standard Webhooks specification's published example", () => {
    // Prepare: the example of the standard's reference libraries (a JSON body, 2021-02-25).
    const headers = {
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: '1614265330',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };

    // Act
    const problem = recallSignatureProblem(
      headers,
      '{"test": 2432232314}',
      keys('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
      1614265330_000 + 1_000,
    );

    // Assess
    expect(problem).toBeUndefined();
  });

  it('for a GET (empty body), and not for the same headers over a body', () => {
    // Act
    const get = recallSignatureProblem(signed(SECRET_A), '', keys(SECRET_A), NOW);
    const withBody = recallSignatureProblem(signed(SECRET_A), 'x', keys(SECRET_A), NOW);

    // Assess
    expect(get).toBeUndefined();
    expect(withBody).toBe('mismatch');
  });

  it('with a timestamp up to 5 minutes off either way; one second more is stale', () => {
    // Prepare
    const at = (offsetSeconds: number) => signed(SECRET_A, String(NOW / 1000 + offsetSeconds));
    const check = (offsetSeconds: number) => recallSignatureProblem(at(offsetSeconds), '', keys(SECRET_A), NOW);

    // Act
    const outcomes = [-301, -300, 0, 300, 301].map(check);

    // Assess
    expect(outcomes).toEqual(['stale', undefined, undefined, undefined, 'stale']);
  });

  it('when any of several v1 signatures matches (a rotation at Recall); other versions are skipped', () => {
    // Prepare
    const id = 'msg_rotation';
    const header = `v1a,${'Z'.repeat(86)}== ${v1(SECRET_C, id, SECONDS)} ${v1(SECRET_A, id, SECONDS)}`;

    // Act
    const problem = recallSignatureProblem({ id, timestamp: SECONDS, signature: header }, '', keys(SECRET_A), NOW);

    // Assess
    expect(problem).toBeUndefined();
  });

  it('against any of several configured secrets (old and new): signed with either, yes; with a third, no', () => {
    // Prepare
    const both = keys(`${SECRET_A}  ${SECRET_B}\n`);

    // Act
    const outcomes = [SECRET_A, SECRET_B, SECRET_C].map((secret) => recallSignatureProblem(signed(secret), '', both, NOW));

    // Assess
    expect(outcomes).toEqual([undefined, undefined, 'mismatch']);
  });

  it('compares the signatures in constant time', () => {
    // Prepare
    const compare = crypto.timingSafeEqual as jest.MockedFunction<typeof crypto.timingSafeEqual>;
    compare.mockClear();

    // Act
    const problem = recallSignatureProblem(signed(SECRET_C), '', keys(`${SECRET_A} ${SECRET_B}`), NOW);

    // Assess: one comparison per configured key, of the decoded 32 bytes.
    expect(problem).toBe('mismatch');
    expect(compare).toHaveBeenCalledTimes(2);
    expect(compare.mock.calls.map(([given, expected]) => [given.byteLength, expected.byteLength])).toEqual([
      [32, 32],
      [32, 32],
    ]);
  });
});

describe('a request without a valid Recall signature', () => {
  const good = signed(SECRET_A);

  it.each<[string, RecallSignatureHeaders, string]>([
    ['no headers at all', {}, 'missing'],
    ['no signature', { id: good.id, timestamp: good.timestamp }, 'malformed'],
    ['no id', { timestamp: good.timestamp, signature: good.signature }, 'malformed'],
    ['no timestamp', { id: good.id, signature: good.signature }, 'malformed'],
    ['an id with a space', { ...good, id: 'msg 1' }, 'malformed'],
    ['an id of 257 characters', { ...good, id: 'm'.repeat(257) }, 'malformed'],
    ['a timestamp in milliseconds', { ...good, timestamp: String(NOW) }, 'malformed'],
    ['a timestamp an hour old', signed(SECRET_A, String(NOW / 1000 - 3600)), 'stale'],
    ['a timestamp with a leading zero', { ...good, timestamp: `0${SECONDS}` }, 'malformed'],
    ['a timestamp that is no number', { ...good, timestamp: '2030-01-01T00:00:00Z' }, 'malformed'],
    ['only a v1a signature', { ...good, signature: `v1a,${'Z'.repeat(86)}==` }, 'malformed'],
    ['a signature without its version', { ...good, signature: good.signature!.slice(3) }, 'malformed'],
    ['a signature of 31 bytes', { ...good, signature: `v1,${Buffer.alloc(31).toString('base64')}` }, 'malformed'],
    ['a signature in base64url', { ...good, signature: `v1,${'-'.repeat(43)}=` }, 'malformed'],
    ['a header of 2,000 characters', { ...good, signature: `${good.signature} ${'v1,x '.repeat(400)}` }, 'malformed'],
    ['a signature by another secret', signed(SECRET_C), 'mismatch'],
    ['a signature over another id', { ...good, id: 'msg_other' }, 'mismatch'],
    ['a signature over another timestamp', { ...good, timestamp: String(NOW / 1000 + 1) }, 'mismatch'],
  ])('%s: %s', (_name, headers, expected) => {
    // Act
    const problem = recallSignatureProblem(headers, '', keys(SECRET_A), NOW);

    // Assess
    expect(problem).toBe(expected);
  });

  it('is all there is when no usable secret is configured, however well signed', () => {
    // Act
    const placeholder = recallSignatureProblem(good, '', { unusable: 'placeholder' }, NOW);
    const malformed = recallSignatureProblem(good, '', { unusable: 'malformed' }, NOW);

    // Assess
    expect([placeholder, malformed]).toEqual(['secret_placeholder', 'secret_malformed']);
  });
});

describe('the verification secret setting', () => {
  it('takes one or more whsec_ values separated by whitespace, padded or not; the key is the decoded base64', () => {
    // Act
    const parsed = parseRecallVerificationSecrets(` ${SECRET_A}\t${SECRET_B.replace(/=+$/, '')}\n`);

    // Assess
    expect(parsed).toEqual({ keys: [Buffer.alloc(32, 'a'), Buffer.alloc(24, 'b')] });
  });

  it.each([
    ['empty', ''],
    ["the stack's generated placeholder", 'Xk3vQ9mP2rT8wY5zA1bC4dE7fG0hJ6nL'],
    ['a key without its whsec_ prefix', Buffer.alloc(32, 'a').toString('base64')],
  ])('is a placeholder when it holds no whsec_ value: %s', (_name, value) => {
    // Act & Assess
    expect(parseRecallVerificationSecrets(value)).toEqual({ unusable: 'placeholder' });
  });

  it.each([
    ['not base64', 'whsec_not*base64'],
    ['too short a key (8 bytes)', `whsec_${Buffer.alloc(8, 'k').toString('base64')}`],
    ['truncated (not canonical)', SECRET_A.slice(0, -3)],
    ['a good value beside junk', `${SECRET_A} junk`],
    ['a good value beside an empty whsec_', `${SECRET_A} whsec_`],
  ])('is malformed otherwise: %s', (_name, value) => {
    // Act & Assess
    expect(parseRecallVerificationSecrets(value)).toEqual({ unusable: 'malformed' });
  });
});
