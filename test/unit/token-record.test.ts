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
  it('puts the given tokens in front, newest first, without repeats, keeping five', () => {
    // Prepare
    const fp = refreshTokenFingerprint;
    const remembered = ['r4', 'r3', 'r2', 'r1', 'r0'].map(fp);

    // Act
    const fromNothing = rememberRefreshTokens(undefined, 'r0');
    const afterRefresh = rememberRefreshTokens(remembered, 'r5', 'r4');
    const repeated = rememberRefreshTokens([fp('r1'), fp('r0')], 'r0');

    // Assess
    expect(fromNothing).toEqual([fp('r0')]);
    expect(afterRefresh).toEqual(['r5', 'r4', 'r3', 'r2', 'r1'].map(fp));
    expect(afterRefresh).toHaveLength(REMEMBERED_REFRESH_TOKENS);
    expect(repeated).toEqual([fp('r0'), fp('r1')]);
    expect(remembered).toHaveLength(5); // not changed in place
  });
});
