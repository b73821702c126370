/**
 * Listing users by state, for operators and the backend ("who must re-authorize?"): from an
 * index on the state's deciding attribute, never a table scan. A state is decided by two
 * attributes (a dead grant outranks the Recall state), so a page is filtered after the read and
 * may hold fewer than `limit` users while more follow.
 */
import type { TokenStore } from './ports';
import { overallStatus, type StoredUser, type UserState } from './token-record';

/** Which index answers for each state. */
const STATE_QUERIES: Record<UserState, { field: 'status' | 'recallStatus'; value: string }> = {
  reauth_required: { field: 'status', value: 'reauth_required' },
  deauthorized: { field: 'status', value: 'deauthorized' },
  recall_unhealthy: { field: 'recallStatus', value: 'unhealthy' },
  recall_failed: { field: 'recallStatus', value: 'failed' },
  recall_pending: { field: 'recallStatus', value: 'pending' },
  active: { field: 'recallStatus', value: 'registered' },
};

export interface UserPage {
  users: StoredUser[];
  /** The last user id read, to continue after; absent on the last page. */
  last?: string;
}

export async function listUsers(
  store: Pick<TokenStore, 'listWhere'>,
  state: UserState,
  page: { limit: number; after?: string },
): Promise<UserPage> {
  const { field, value } = STATE_QUERIES[state];
  const read = await store.listWhere(field, value, page);
  return { users: read.users.filter((user) => overallStatus(user) === state), ...(read.last ? { last: read.last } : {}) };
}
