/**
 * What every ZoomApiClient must do, as one suite run against each implementation: the real
 * adapter over HTTP to the fake Zoom (which answers as Zoom documents), and the in-memory
 * double the domain's unit tests use (test/support/in-memory/zoom-api.ts). When they disagree,
 * this decides. Both run in test/integration/zoom-api-client.test.ts.
 */
import type { ZoomApiClient } from '../../functions/domain/ports';

export interface ZoomApiFixture {
  client: ZoomApiClient;
  /** A user authorizes the app with `scope`: that grant's live access token. */
  authorize(zoomUserId: string, scope: string): string;
  /** The user's access tokens stop working before their expiry (expired, or revoked). */
  expire(zoomUserId: string): void;
  createMeeting(hostZoomUserId: string): string;
  /** A bot joins with the token: true the first time only. */
  use(token: string): boolean;
  /** Requests Zoom received so far. */
  calls(): number;
  close?(): Promise<void>;
}

const ALL = 'user:read:user user:read:token user:read:zak meeting:read:local_recording_token';
const deadline = () => Date.now() + 4_000;

export function describeZoomApiContract(name: string, makeFixture: () => Promise<ZoomApiFixture>): void {
  describe(`ZoomApiClient contract: ${name}`, () => {
    let z: ZoomApiFixture;
    beforeEach(async () => {
      z = await makeFixture();
    });
    afterEach(async () => {
      await z.close?.();
    });

    it.each(['obf', 'zak', 'join_token'] as const)('mints a %s token, a new single-use one every time', async (kind) => {
      // Prepare
      const accessToken = z.authorize('host', ALL);
      const meetingId = z.createMeeting('host');

      // Act
      const first = await z.client.mintBotToken(kind, meetingId, accessToken, { deadline: deadline() });
      const second = await z.client.mintBotToken(kind, meetingId, accessToken, { deadline: deadline() });

      // Assess
      if (first.kind !== 'token' || second.kind !== 'token') throw new Error(`not minted: ${first.kind}, ${second.kind}`);
      expect(first.token).not.toBe(second.token);
      expect([z.use(first.token), z.use(first.token), z.use(second.token)]).toEqual([true, false, true]);
    });

    it('an access token Zoom no longer takes: retry (access_token_rejected), not tried again in place', async () => {
      // Prepare
      const accessToken = z.authorize('host', ALL);
      const meetingId = z.createMeeting('host');
      z.expire('host');
      const before = z.calls();

      // Act
      const expired = await z.client.mintBotToken('obf', meetingId, accessToken, { deadline: deadline() });
      const unknown = await z.client.mintBotToken('zak', meetingId, 'not-a-token', { deadline: deadline() });

      // Assess
      expect(expired).toMatchObject({ kind: 'retry', cause: 'access_token_rejected', status: 401, code: 124 });
      expect(unknown).toMatchObject({ kind: 'retry', cause: 'access_token_rejected' });
      expect(z.calls() - before).toBe(2);
    });

    it("a grant without the route's scope: unavailable (scope_missing)", async () => {
      // Prepare
      const accessToken = z.authorize('host', 'user:read:user user:read:zak');
      const meetingId = z.createMeeting('host');

      // Act
      const obf = await z.client.mintBotToken('obf', meetingId, accessToken, { deadline: deadline() });
      const joinToken = await z.client.mintBotToken('join_token', meetingId, accessToken, { deadline: deadline() });
      const zak = await z.client.mintBotToken('zak', meetingId, accessToken, { deadline: deadline() });

      // Assess
      expect(obf).toMatchObject({ kind: 'unavailable', reason: 'scope_missing', code: 4711 });
      expect(joinToken).toMatchObject({ kind: 'unavailable', reason: 'scope_missing' });
      expect(zak.kind).toBe('token');
    });

    it("an unknown meeting, or a join token for another host's meeting: unavailable (meeting_not_found); an OBF token for it: minted", async () => {
      // Prepare
      const accessToken = z.authorize('guest', ALL);
      const othersMeeting = z.createMeeting('host');

      // Act
      const unknownObf = await z.client.mintBotToken('obf', '99999999999', accessToken, { deadline: deadline() });
      const unknownJoin = await z.client.mintBotToken('join_token', '99999999999', accessToken, { deadline: deadline() });
      const notHost = await z.client.mintBotToken('join_token', othersMeeting, accessToken, { deadline: deadline() });
      const external = await z.client.mintBotToken('obf', othersMeeting, accessToken, { deadline: deadline() });

      // Assess
      for (const result of [unknownObf, unknownJoin, notHost]) {
        expect(result).toMatchObject({ kind: 'unavailable', reason: 'meeting_not_found', code: 3001 });
      }
      expect(external.kind).toBe('token');
    });
  });
}
