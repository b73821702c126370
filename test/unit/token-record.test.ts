import { createHash } from 'node:crypto';
import { REMEMBERED_REFRESH_TOKENS, refreshTokenFingerprint, rememberRefreshTokens } from '../../functions/domain/token-record';

describe('refreshTokenFingerprint', () => {
  it('is the first 16 bytes of the SHA-256, base64url, and never the token', () => {
    // Prepare
    const token = 'eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIn0.refresh-token-body';

    // Act
    const fingerprint = refreshTokenFingerprint(token);

    // Assess
    expect(fingerprint).toBe(createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url'));
    expect(fingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(refreshTokenFingerprint(token)).toBe(fingerprint);
    expect(refreshTokenFingerprint(`${token}x`)).not.toBe(fingerprint);
  });
});

describe('rememberRefreshTokens', () => {
  it('puts the given token in front, without repeats, keeping the last registrations', () => {
    // Prepare
    const fp = refreshTokenFingerprint;
    const names = Array.from({ length: REMEMBERED_REFRESH_TOKENS }, (_, i) => `r${REMEMBERED_REFRESH_TOKENS - 1 - i}`);
    const remembered = names.map(fp);

    // Act
    const fromNothing = rememberRefreshTokens(undefined, 'r0');
    const afterOneMore = rememberRefreshTokens(remembered, 'new');
    const repeated = rememberRefreshTokens([fp('r1'), fp('r0')], 'r0');

    // Assess
    expect(fromNothing).toEqual([fp('r0')]);
    expect(afterOneMore).toEqual([fp('new'), ...remembered.slice(0, -1)]);
    expect(afterOneMore).toHaveLength(REMEMBERED_REFRESH_TOKENS);
    expect(repeated).toEqual([fp('r0'), fp('r1')]);
    expect(remembered).toHaveLength(REMEMBERED_REFRESH_TOKENS); // not changed in place
  });
});
