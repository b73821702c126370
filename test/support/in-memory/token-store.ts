/**
 * A TokenStore in memory with the DynamoTokenStore's semantics (the contract in
 * test/support/store-contract.ts runs against both):
 * - every write is conditional: `create` fails with ConflictError when the user exists; `update`
 *   fails with ConflictError when its condition does not hold, the item being missing included;
 *   a successful update adds one to `version`; `delete` of a missing item is no error;
 * - every write leaves its own marker on the row: a write sent again after its answer was lost
 *   (`loseNextAnswer`, as the AWS SDK re-sends) that meets its own marker answers as written;
 * - `{ registrationId: LEGACY_REGISTRATION_ID, ... }` requires a record without a registration id
 *   (one written before they existed, see `seedLegacy`);
 * - `null` in an update removes the field;
 * - the sparse due index: status `reauth_required` takes the user out, status `active` written
 *   with `accessTokenExpiresAt` puts it in at that expiry; an expiry without a status throws;
 * - callers never share an object with the stored state (copies in and out).
 *
 * For scripted interleavings: `gate` is awaited before every operation (it may also throw, to
 * inject a storage failure), `withActor(name)` gives a view whose operations carry a name, and
 * the condition check and the write of one operation happen with no await between them.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError } from '../../../functions/domain/errors';
import type { DueUser, TokenStore } from '../../../functions/domain/ports';
import {
  LEGACY_REGISTRATION_ID,
  tokensRemoved,
  type ErrorNote,
  type StoredUser,
  type UserUpdate,
  type WriteCondition,
} from '../../../functions/domain/token-record';

export type StoreOp = 'get' | 'create' | 'update' | 'delete' | 'listDue' | 'listWhere';

export interface StoreEvent {
  op: StoreOp;
  /** Undefined for listDue. */
  userId?: string;
  /** The name given with `withActor`, if any. */
  actor?: string;
  consistent?: boolean;
  condition?: WriteCondition;
  update?: UserUpdate;
  dueBefore?: number;
}

export interface WriteRecord {
  op: 'create' | 'update' | 'delete';
  userId: string;
  actor?: string;
  condition?: WriteCondition;
  update?: UserUpdate;
  /** False when the condition failed (ConflictError). */
  ok: boolean;
  /** The version after the write, when it succeeded and the item remains. */
  version?: number;
}

export interface StoreCounts {
  get: number;
  consistentGet: number;
  create: number;
  update: number;
  delete: number;
  listDue: number;
  /** Conditional writes that failed (creates and updates). */
  conflicts: number;
}

/** A stored row: the user without the registration id of a legacy record, its due-index entry, its latest write's marker. */
interface Row {
  user: StoredUser;
  hasRegistrationId: boolean;
  dueAt?: number;
  writeId?: string;
}

/** A write whose answer is lost after it was applied: it is sent again (after `between`, another writer's turn). */
export interface LostAnswer {
  op: 'create' | 'update' | 'delete';
  between?: () => Promise<void>;
}

export interface InMemoryTokenStoreOptions {
  /**
   * When true, a read without `consistent` sees the item as it was before its latest write (or
   * nothing, if the latest write created it): the worst an eventually consistent read may do.
   */
  staleReads?: boolean;
}

const copyBytes = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

function copyNote(note: ErrorNote | undefined): ErrorNote | undefined {
  return note ? { at: note.at, code: note.code, message: note.message } : undefined;
}

/** A copy with exactly the shape DynamoTokenStore's `toUser` gives back (absent fields included as undefined). */
function normalized(user: StoredUser): StoredUser {
  const out: StoredUser = {
    userId: user.userId,
    registrationId: user.registrationId,
    version: user.version,
    status: user.status,
    sealed: tokensRemoved(user.sealed)
      ? { removedAt: user.sealed.removedAt, reason: user.sealed.reason }
      : {
          formatVersion: user.sealed.formatVersion,
          encryptedDataKey: copyBytes(user.sealed.encryptedDataKey),
          iv: copyBytes(user.sealed.iv),
          ciphertext: copyBytes(user.sealed.ciphertext),
        },
    accessTokenExpiresAt: user.accessTokenExpiresAt,
    tokenGeneration: user.tokenGeneration,
    registeredGeneration: user.registeredGeneration,
    refreshTokenFingerprints: user.refreshTokenFingerprints ? [...user.refreshTokenFingerprints] : undefined,
    grantedAt: user.grantedAt,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    recall: {
      status: user.recall?.status ?? 'pending',
      // Like the Dynamo mapping: empty strings are not stored.
      credentialId: user.recall?.credentialId || undefined,
      callbackKeyId: user.recall?.callbackKeyId || undefined,
      lastError: copyNote(user.recall?.lastError),
    },
    lastRefreshAt: user.lastRefreshAt,
    lastServedAt: user.lastServedAt,
    refreshDueAt: user.refreshDueAt,
    zoomUserId: user.zoomUserId || undefined,
    zoomAccountId: user.zoomAccountId || undefined,
    lastError: copyNote(user.lastError),
    reauthRequired: copyNote(user.reauthRequired),
  };
  if (user.lease?.owner) out.lease = { owner: user.lease.owner, expiresAt: user.lease.expiresAt ?? 0 };
  return out;
}

/** The due-index entry a write implies: DynamoTokenStore.withDueAttributes. */
function dueChange(update: UserUpdate): { kind: 'remove' } | { kind: 'set'; dueAt: number } | { kind: 'keep' } {
  if (update.status === 'reauth_required' || update.status === 'deauthorized') return { kind: 'remove' };
  if (update.status === 'active' && typeof update.accessTokenExpiresAt === 'number') {
    return { kind: 'set', dueAt: typeof update.refreshDueAt === 'number' ? update.refreshDueAt : update.accessTokenExpiresAt };
  }
  if (update.accessTokenExpiresAt !== undefined || update.refreshDueAt !== undefined) {
    throw new Error('a new access-token expiry or refresh due time must be written together with status active and the expiry');
  }
  return { kind: 'keep' };
}

export class InMemoryTokenStore implements TokenStore {
  private readonly rows = new Map<string, Row>();
  /** Each user's row before its latest write (undefined: it did not exist), for stale reads. */
  private readonly previous = new Map<string, Row | undefined>();
  private readonly staleReads: boolean;

  /** Awaited before every operation; throw from it to make the operation fail. */
  gate?: (event: StoreEvent) => Promise<void>;
  readonly counts: StoreCounts = { get: 0, consistentGet: 0, create: 0, update: 0, delete: 0, listDue: 0, conflicts: 0 };
  /** Every write attempted, in order. */
  readonly writes: WriteRecord[] = [];
  private readonly lostAnswers: LostAnswer[] = [];

  constructor(options: InMemoryTokenStoreOptions = {}) {
    this.staleReads = options.staleReads ?? false;
  }

  get(userId: string, options: { consistent?: boolean } = {}): Promise<StoredUser | undefined> {
    return this.getAs(undefined, userId, options);
  }

  create(user: StoredUser): Promise<void> {
    return this.createAs(undefined, user);
  }

  update(userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser> {
    return this.updateAs(undefined, userId, condition, update);
  }

  delete(userId: string, condition?: WriteCondition): Promise<void> {
    return this.deleteAs(undefined, userId, condition);
  }

  listWhere(
    field: 'status' | 'recallStatus',
    value: string,
    page: { limit: number; after?: string },
  ): Promise<{ users: StoredUser[]; last?: string }> {
    return this.listWhereAs(undefined, field, value, page);
  }

  findByZoomUser(zoomUserId: string): Promise<StoredUser[]> {
    return this.findByZoomUserAs(undefined, zoomUserId);
  }

  listDue(dueBefore: number): AsyncIterable<DueUser> {
    return this.listDueAs(undefined, dueBefore);
  }

  /** The same store, its operations named `actor` in gate events and write records. */
  withActor(actor: string): TokenStore {
    return {
      get: (userId, options) => this.getAs(actor, userId, options ?? {}),
      create: (user) => this.createAs(actor, user),
      update: (userId, condition, update) => this.updateAs(actor, userId, condition, update),
      delete: (userId, condition) => this.deleteAs(actor, userId, condition),
      listWhere: (field, value, page) => this.listWhereAs(actor, field, value, page),
      findByZoomUser: (zoomUserId) => this.findByZoomUserAs(actor, zoomUserId),
      listDue: (dueBefore) => this.listDueAs(actor, dueBefore),
    };
  }

  // --- test helpers: no gate, no counting ---

  /** The stored user as a consistent read would return it. */
  peek(userId: string): StoredUser | undefined {
    const row = this.rows.get(userId);
    return row ? this.read(row) : undefined;
  }

  /** Stores `user` as a record written before registration ids existed: it reads as LEGACY_REGISTRATION_ID. */
  seedLegacy(user: StoredUser): void {
    if (this.rows.has(user.userId)) throw new Error('user already exists');
    this.rows.set(user.userId, this.rowFor(user, false));
  }

  /** The next write of `lost.op` lands, its answer is lost, and it is sent again, as the AWS SDK does. */
  loseNextAnswer(lost: LostAnswer): void {
    this.lostAnswers.push(lost);
  }

  /** The due index, sorted by due time. */
  dueIndex(): DueUser[] {
    return [...this.rows.values()]
      .filter((row) => row.dueAt !== undefined)
      .map((row) => ({ userId: row.user.userId, dueAt: row.dueAt! }))
      .sort((a, b) => a.dueAt - b.dueAt || a.userId.localeCompare(b.userId));
  }

  userIds(): string[] {
    return [...this.rows.keys()].sort();
  }

  // --- the operations ---

  private async getAs(actor: string | undefined, userId: string, options: { consistent?: boolean }): Promise<StoredUser | undefined> {
    const consistent = options.consistent ?? false;
    await this.gate?.({ op: 'get', userId, actor, consistent });
    this.counts.get += 1;
    if (consistent) this.counts.consistentGet += 1;
    const row = !consistent && this.staleReads && this.previous.has(userId) ? this.previous.get(userId) : this.rows.get(userId);
    return row ? this.read(row) : undefined;
  }

  private async createAs(actor: string | undefined, user: StoredUser): Promise<void> {
    const copy = normalized(user);
    await this.gate?.({ op: 'create', userId: user.userId, actor });
    const writeId = randomUUID();
    await this.sentAgainIfLost('create', () => this.createNow(actor, copy, writeId));
  }

  private createNow(actor: string | undefined, user: StoredUser, writeId: string): void {
    this.counts.create += 1;
    const existing = this.rows.get(user.userId);
    if (existing?.writeId === writeId) return;
    if (existing) {
      this.counts.conflicts += 1;
      this.writes.push({ op: 'create', userId: user.userId, actor, ok: false });
      throw new ConflictError('user already exists');
    }
    this.remember(user.userId);
    this.rows.set(user.userId, { ...this.rowFor(user, true), writeId });
    this.writes.push({ op: 'create', userId: user.userId, actor, ok: true, version: user.version });
  }

  private async updateAs(actor: string | undefined, userId: string, condition: WriteCondition, update: UserUpdate): Promise<StoredUser> {
    // Copied before any await: a caller changing its object afterwards changes nothing here.
    const requested = structuredClone(update);
    const wanted = structuredClone(condition);
    // Checked before the condition, like the Dynamo store (which throws while building the request).
    const due = dueChange(requested);
    await this.gate?.({ op: 'update', userId, actor, condition: structuredClone(wanted), update: structuredClone(requested) });
    const writeId = randomUUID();
    return this.sentAgainIfLost('update', () => this.updateNow({ actor, userId, condition: wanted, update: requested, due, writeId }));
  }

  private updateNow(write: {
    actor?: string;
    userId: string;
    condition: WriteCondition;
    update: UserUpdate;
    due: ReturnType<typeof dueChange>;
    writeId: string;
  }): StoredUser {
    const { actor, userId, condition, update, due, writeId } = write;
    this.counts.update += 1;
    const row = this.rows.get(userId);
    if (!row || !this.holds(row, condition)) {
      // Our own earlier send landed (its answer lost): answered as written.
      if (row?.writeId === writeId) return this.read(row);
      this.counts.conflicts += 1;
      this.writes.push({ op: 'update', userId, actor, condition, update, ok: false });
      throw new ConflictError('stored item changed');
    }
    const next = { ...this.apply(row, update, due), writeId };
    this.remember(userId);
    this.rows.set(userId, next);
    this.writes.push({ op: 'update', userId, actor, condition, update, ok: true, version: next.user.version });
    return this.read(next);
  }

  private async deleteAs(actor: string | undefined, userId: string, condition?: WriteCondition): Promise<void> {
    const wanted = condition && structuredClone(condition);
    await this.gate?.({ op: 'delete', userId, actor, condition: wanted && structuredClone(wanted) });
    await this.sentAgainIfLost('delete', () => this.deleteNow(actor, userId, wanted));
  }

  private deleteNow(actor: string | undefined, userId: string, condition?: WriteCondition): void {
    this.counts.delete += 1;
    const row = this.rows.get(userId);
    if (row && condition && !this.holds(row, condition)) {
      this.counts.conflicts += 1;
      this.writes.push({ op: 'delete', userId, actor, condition, ok: false });
      throw new ConflictError('stored item changed');
    }
    if (row) this.remember(userId);
    this.rows.delete(userId);
    this.writes.push({ op: 'delete', userId, actor, condition, ok: true });
  }

  /** Runs `send`; when a lost answer is scripted for `op`, the write lands and is sent again. */
  private async sentAgainIfLost<T>(op: LostAnswer['op'], send: () => T): Promise<T> {
    const index = this.lostAnswers.findIndex((lost) => lost.op === op);
    const lost = index < 0 ? undefined : this.lostAnswers.splice(index, 1)[0];
    const first = send();
    if (!lost) return first;
    await lost.between?.();
    return send();
  }

  /** Like a query on the status or Recall-status index: user-id order, `limit` index entries, then the last key. */
  private async listWhereAs(
    actor: string | undefined,
    field: 'status' | 'recallStatus',
    value: string,
    page: { limit: number; after?: string },
  ): Promise<{ users: StoredUser[]; last?: string }> {
    await this.gate?.({ op: 'listWhere', actor });
    const matching = [...this.rows.values()]
      .map((row) => this.read(row))
      .filter((user) => (field === 'status' ? user.status : user.recall.status) === value)
      .filter((user) => page.after === undefined || user.userId > page.after)
      .sort((a, b) => (a.userId < b.userId ? -1 : 1));
    const users = matching.slice(0, page.limit);
    return { users, ...(matching.length > page.limit ? { last: users.at(-1)!.userId } : {}) };
  }

  /** Like a query on the sparse Zoom-user index: user-id order. */
  private async findByZoomUserAs(actor: string | undefined, zoomUserId: string): Promise<StoredUser[]> {
    await this.gate?.({ op: 'listWhere', actor });
    return [...this.rows.values()]
      .map((row) => this.read(row))
      .filter((user) => user.zoomUserId === zoomUserId)
      .sort((a, b) => (a.userId < b.userId ? -1 : 1));
  }

  private async *listDueAs(actor: string | undefined, dueBefore: number): AsyncIterable<DueUser> {
    await this.gate?.({ op: 'listDue', actor, dueBefore });
    this.counts.listDue += 1;
    // Read when asked, like one query: later writes do not change what this listing yields.
    const due = this.dueIndex().filter((entry) => entry.dueAt <= dueBefore);
    for (const entry of due) yield entry;
  }

  // --- internals ---

  /** DynamoTokenStore's condition expression: the registration, then every identity given (`null`: absent). */
  private holds(row: Row, condition: WriteCondition): boolean {
    const { user } = row;
    const sameRegistration =
      condition.registrationId === LEGACY_REGISTRATION_ID
        ? !row.hasRegistrationId
        : row.hasRegistrationId && user.registrationId === condition.registrationId;
    const is = <V>(wanted: V | null | undefined, actual: V | undefined) =>
      wanted === undefined || (wanted === null ? actual === undefined : actual === wanted);
    const { lease } = condition;
    return (
      sameRegistration &&
      is(condition.version, user.version) &&
      is(condition.tokenGeneration, user.tokenGeneration) &&
      is(condition.registeredGeneration, user.registeredGeneration) &&
      is(lease === undefined ? undefined : (lease?.owner ?? null), user.lease?.owner) &&
      is(lease?.expiresAt, user.lease?.expiresAt) &&
      is(condition.recallCredentialId, user.recall.credentialId)
    );
  }

  private apply(row: Row, update: UserUpdate, due: ReturnType<typeof dueChange>): Row {
    const user = normalized(row.user) as unknown as Record<string, unknown>;
    for (const [field, value] of Object.entries(update)) {
      if (value === undefined) continue;
      if (value === null) delete user[field];
      else user[field] = value;
    }
    user.version = row.user.version + 1;
    const next: Row = { user: normalized(user as unknown as StoredUser), hasRegistrationId: row.hasRegistrationId, dueAt: row.dueAt };
    if (due.kind === 'remove') next.dueAt = undefined;
    if (due.kind === 'set') next.dueAt = due.dueAt;
    return next;
  }

  /** A new row for `user` as `create` writes it: in the due index when active (Dynamo: status and expiry both written). */
  private rowFor(user: StoredUser, hasRegistrationId: boolean): Row {
    const copy = normalized(user);
    const due = dueChange({ status: copy.status, accessTokenExpiresAt: copy.accessTokenExpiresAt, refreshDueAt: copy.refreshDueAt });
    return { user: copy, hasRegistrationId, dueAt: due.kind === 'set' ? due.dueAt : undefined };
  }

  private read(row: Row): StoredUser {
    const user = normalized(row.user);
    if (!row.hasRegistrationId) user.registrationId = LEGACY_REGISTRATION_ID;
    return user;
  }

  private remember(userId: string): void {
    const row = this.rows.get(userId);
    this.previous.set(userId, row ? { ...row, user: normalized(row.user) } : undefined);
  }
}
