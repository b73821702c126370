/** A signed bot-token URL's query, as the verifier takes it. */
import type { BotTokenParameters } from '../../functions/domain/signing';

export function botTokenParamsOf(url: URL): BotTokenParameters {
  const q = url.searchParams;
  return {
    userId: q.get('user_id')!,
    registrationId: q.get('reg')!,
    meetingId: q.get('meeting_id')!,
    expiresAt: q.get('exp')!,
    keyId: q.get('kid')!,
    signature: q.get('sig')!,
  };
}
