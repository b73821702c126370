/**
 * The in-memory cipher, Zoom and Recall behave like the real things in the ways the domain
 * tests rely on: a record opens only for its user, refresh tokens are single-use, Recall keeps
 * one credential per Zoom user.
 */
import { RecallConflictError, UnreadableRecordError, UpstreamError } from '../../functions/domain/errors';
import { InMemoryCipher, ManualClock, ScriptedRecall, ScriptedZoom } from '../support/in-memory';

const tokens = { accessToken: 'access-1', refreshToken: 'refresh-1', scope: 'user:read:user' };

describe('InMemoryCipher', () => {
  test('opens a pair for its own record only (user, registration, generation); a tampered one does not open', async () => {
    // Prepare
    const cipher = new InMemoryCipher();
    const alice = { userId: 'alice', registrationId: 'r1', tokenGeneration: 2 };
    const sealed = await cipher.seal(alice, tokens);
    const tampered = { ...sealed, ciphertext: new Uint8Array(sealed.ciphertext) };
    tampered.ciphertext[0] ^= 1;

    // Act / Assess
    await expect(cipher.open(alice, sealed)).resolves.toEqual(tokens);
    await expect(cipher.open({ ...alice, userId: 'bob' }, sealed)).rejects.toBeInstanceOf(UnreadableRecordError);
    await expect(cipher.open({ ...alice, registrationId: 'r2' }, sealed)).rejects.toBeInstanceOf(UnreadableRecordError);
    await expect(cipher.open({ ...alice, tokenGeneration: 3 }, sealed)).rejects.toBeInstanceOf(UnreadableRecordError);
    await expect(cipher.open(alice, tampered)).rejects.toBeInstanceOf(UnreadableRecordError);
    expect(cipher.counts).toEqual({ prepare: 0, seal: 1, open: 5 });
  });

  test('fails the next N calls of a method as told, then works again', async () => {
    // Prepare
    const cipher = new InMemoryCipher();
    cipher.failNext('prepare', 2);

    // Act
    const results = await Promise.allSettled([cipher.prepare(), cipher.prepare(), cipher.prepare()]);

    // Assess
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect(cipher.counts.prepare).toBe(3);
  });
});

describe('ScriptedZoom', () => {
  test('a refresh token works once; the spent one answers invalid_grant', async () => {
    // Prepare
    const zoom = new ScriptedZoom(new ManualClock().clock);
    const grant = zoom.authorize('zu');

    // Act
    const first = await zoom.refresh(grant.tokens.refreshToken);
    const again = await zoom.refresh(grant.tokens.refreshToken);

    // Assess
    expect(first.kind).toBe('ok');
    expect(again).toMatchObject({ kind: 'grant_dead', error: 'invalid_grant' });
    expect(zoom.currentRefreshToken('zu')).toBe(first.kind === 'ok' ? first.tokens.refreshToken : undefined);
    expect(zoom.stats).toEqual({ refreshCalls: 2, refreshOk: 1, invalidGrant: 1 });
  });

  test('a lost answer spends the token; a 503 does not', async () => {
    // Prepare
    const zoom = new ScriptedZoom(new ManualClock().clock);
    const grant = zoom.authorize('zu');
    zoom.next({ fail: 503 });
    zoom.next({ lose: true });

    // Act
    const failed = await zoom.refresh(grant.tokens.refreshToken);
    const lost = await zoom.refresh(grant.tokens.refreshToken);
    const after = await zoom.refresh(grant.tokens.refreshToken);

    // Assess
    expect(failed).toMatchObject({ kind: 'retryable', status: 503 });
    expect(lost).toEqual({ kind: 'ambiguous', error: 'timeout' });
    expect(after.kind).toBe('grant_dead');
  });
});

describe('ScriptedRecall', () => {
  test('one credential per Zoom user: a second create is a RecallConflictError naming the user; injected failures are UpstreamErrors', async () => {
    // Prepare
    const recall = new ScriptedRecall();
    const input = (key: string, userId = 'u1') => ({
      oauthAppId: 'app',
      callbackUrl: `https://v.example/zoom/token?user_id=${userId}`,
      idempotencyKey: key,
    });
    const created = await recall.createZoomOAuthCredential(input('k1'));

    // Act
    const replay = await recall.createZoomOAuthCredential(input('k1'));
    const conflict = recall.createZoomOAuthCredential(input('k2'));
    recall.failNext('get');
    const failing = recall.getZoomOAuthCredential(created.id);

    // Assess
    expect(replay.id).toBe(created.id);
    await expect(conflict).rejects.toBeInstanceOf(RecallConflictError);
    await expect(conflict).rejects.toMatchObject({ conflictingZoomUserId: 'zoom-u1' });
    await expect(failing).rejects.toBeInstanceOf(UpstreamError);
    expect(await recall.listZoomOAuthCredentials({ oauthAppId: 'app', zoomUserId: 'zoom-u1' })).toHaveLength(1);
  });
});
