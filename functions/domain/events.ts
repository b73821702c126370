/**
 * Lifecycle events for the app backend: what happened to a user that the backend may want to
 * act on (ask the user to re-authorize, stop scheduling bots, clean up). Built here, published
 * through the EventPublisher port (EventBridge in AWS, a webhook or nothing locally).
 *
 * A detail carries the user id, the user's state after the change, why (when there is a
 * reason) and when; never a token, a signature, a callback URL or an upstream's raw answer.
 * The names (source, detail types, schema version) are the contract's: the infrastructure's
 * rules and the backend match on them.
 */
import { EVENT_DETAIL_TYPES, EVENT_SCHEMA_VERSION, type EventDetailType } from '../contract';
import type { EventPublisher } from './ports';
import { overallStatus, type StoredUser, type UserState } from './token-record';

/** The user's state after the change; `deleted` once the record is gone. */
export type EventStatus = UserState | 'deleted';

export interface LifecycleEventDetail {
  /** EVENT_SCHEMA_VERSION: a breaking change to any detail bumps it. */
  version: number;
  user_id: string;
  status: EventStatus;
  /** A short machine-readable code (e.g. invalid_grant, lost_in_flight, recall_replaced); never a secret. */
  reason?: string;
  /** When it happened, ISO 8601 (UTC). */
  time: string;
}

export interface LifecycleEvent {
  detailType: EventDetailType;
  detail: LifecycleEventDetail;
}

type UserLike = Pick<StoredUser, 'userId' | 'status' | 'recall'>;

function event(detailType: EventDetailType, userId: string, status: EventStatus, at: number, reason?: string): LifecycleEvent {
  return {
    detailType,
    detail: { version: EVENT_SCHEMA_VERSION, user_id: userId, status, ...(reason ? { reason } : {}), time: new Date(at).toISOString() },
  };
}

export const lifecycleEvents = {
  /** Tokens stored: a first registration, or new tokens (a new grant) for a known user. */
  userRegistered: (user: UserLike, at: number, reason: 'created' | 'new_tokens') =>
    event(EVENT_DETAIL_TYPES.userRegistered, user.userId, overallStatus(user), at, reason),
  /** Zoom said the grant is dead (or a refresh's answer was lost in flight): the user must re-authorize. */
  grantDead: (user: UserLike, at: number, reason: string) =>
    event(EVENT_DETAIL_TYPES.grantDead, user.userId, overallStatus(user), at, reason),
  /** Recall refused or failed the user's credential; the user's Recall status became failed. */
  recallCredentialFailed: (user: UserLike, at: number, reason: string) =>
    event(EVENT_DETAIL_TYPES.recallCredentialFailed, user.userId, overallStatus(user), at, reason),
  /** The user's credential at Recall was deleted because another of our users registered the same Zoom user. */
  recallCredentialReplaced: (user: UserLike, at: number) =>
    event(EVENT_DETAIL_TYPES.recallCredentialReplaced, user.userId, overallStatus(user), at, 'recall_replaced'),
  /** Recall reports the user's credential unhealthy (published once per transition). */
  recallCredentialUnhealthy: (user: UserLike, at: number) =>
    event(EVENT_DETAIL_TYPES.recallCredentialUnhealthy, user.userId, overallStatus(user), at, 'recall_unhealthy'),
  /** Zoom said the user removed the app: tokens and Recall credential deleted. */
  zoomDeauthorized: (user: UserLike, at: number) =>
    event(EVENT_DETAIL_TYPES.zoomDeauthorized, user.userId, overallStatus(user), at, 'app_deauthorized'),
  /** The backend deleted the user (DELETE): record and Recall credential gone. */
  userDeleted: (userId: string, at: number) => event(EVENT_DETAIL_TYPES.userDeleted, userId, 'deleted', at),
};

/**
 * Publishes without ever failing the caller: the publisher handed to the domain already retries,
 * counts and logs (see adapters/event-publishers.ts); this is the last guard.
 */
export async function announce(publisher: EventPublisher | undefined, ...events: LifecycleEvent[]): Promise<void> {
  if (!publisher || events.length === 0) return;
  try {
    await publisher.publish(events);
  } catch {
    // Counted and logged by the publisher; a state change never fails for its event.
  }
}
