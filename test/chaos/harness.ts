/**
 * The chaos harness: many users driven through the real domain code and the real adapters
 * (DynamoTokenStore on dynalite, KmsEnvelopeCipher on the KMS stand-in, the Zoom and Recall
 * clients over HTTP against the fakes), with faults injected scenario by scenario from a seeded
 * PRNG, processes killed and restarted, and a verdict from the fake Zoom's ground truth.
 *
 * A "container" is one process (a Lambda container): its own SDK clients, cipher (and data-key
 * cache) and HTTP clients, running one invocation at a time. Killing it makes every port call of
 * its invocation hang from then on (its promise chain is abandoned, as if the process had died)
 * and its AWS clients send nothing more, an SDK retry included; requests already on the wire
 * still land. The next invocation gets a fresh container on the
 * same dynalite, KMS and fakes.
 *
 * Verdict per user, after a settling sweep with no faults: LOST when Zoom still honours the grant
 * but the stored refresh token is not its live one, or the record says reauth_required or
 * deauthorized. A loss is UNAVOIDABLE ("lost in flight") only when the answer carrying the live
 * token never reached storage because it never reached the process (Zoom dropped it, or the
 * process died before it arrived) or the process died between receiving it and its write (a kill,
 * not its own timeout: the save budget is the code's to keep); anything else is AVOIDABLE.
 * A TOKEN OF ANOTHER ZOOM USER is any token a callback served, or a record holds, that the fake
 * Zoom issued to a Zoom user other than the one(s) the backend registered under that
 * registration. WRONG STATES include a landed write reported lost (a save counted superseded or
 * unsaved whose pair was stored; a PUT of a new grant answered without its User Registered event).
 */
import { GetItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { DynamoTokenStore, toUser } from '../../functions/adapters/dynamo-token-store';
import { KmsEnvelopeCipher } from '../../functions/adapters/kms-envelope-cipher';
import { createRecallClient } from '../../functions/adapters/recall-client';
import { createZoomTokenClient } from '../../functions/adapters/zoom-client';
import { CALLBACK_PATH } from '../../functions/contract';
import { parseKeyring, type CallbackSubject } from '../../functions/domain/signing';
import type {
  Log,
  RecallClient,
  SigningKeyProvider,
  TokenCipher,
  TokenStore,
  ZoomRefreshResult,
  ZoomTokenClient,
} from '../../functions/domain/ports';
import { sealedTokensOf, tokensRemoved, type StoredUser, type TokenPair } from '../../functions/domain/token-record';
import { UnreadableRecordError } from '../../functions/domain/errors';
import { EVENT_DETAIL_TYPES } from '../../functions/contract';
import { startDynalite, TABLE_NAME, type Dynalite } from '../../local/dynamo';
import { DEFAULT_FAKE_RECALL_API_KEY, startFakeRecall, type FakeRecall } from '../../local/fakes/fake-recall';
import {
  DEFAULT_FAKE_ZOOM_CLIENT_ID,
  DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
  startFakeZoom,
  type FakeZoom,
  type Issuance,
  type ZoomInjection,
} from '../../local/fakes/fake-zoom';
import { DEFAULT_KEY_ID, startKmsServer, type KmsServer } from '../../local/kms/kms-server';
import { functionAccessKeyId } from '../../local/aws-requests';
import type { FunctionName } from '../../functions/contract';
import { recordAwsRequest } from '../aws/recorder';
import {
  injectDynamoFaults,
  injectDynamoSlowness,
  injectKmsFaults,
  newFaultCounts,
  sendNothingWhenDead,
  type DynamoFaults,
  type FaultCounts,
  type KmsFaults,
} from './aws-faults';
import { fork, mulberry32, pick, weighted, type Rng } from './prng';
import * as system from './system';
import { TIMING } from '../../functions/domain/timing';
import { AWS_CLIENT_OPTIONS } from '../../functions/adapters/aws-client-options';
import type { LifecycleEvent } from '../../functions/domain/events';

// ---------------------------------------------------------------------------------------------
// Scenarios as data
// ---------------------------------------------------------------------------------------------

export interface ZoomFaultChoice {
  weight: number;
  injection: ZoomInjection;
  /** How many consecutive requests of the user it hits (a burst). Default 1. */
  count?: number;
  /**
   * The token is spent and the answer comes as late as the worker still waits for it (a second
   * before the wait it gives the request ends; `injection` is not used).
   */
  latestAnswer?: boolean;
}

/** Admin/API interleavings on one user, run concurrently with that user's refresh. */
export type Interleaving =
  | 'delete_during_refresh'
  | 'delete_then_reregister_during_refresh'
  | 'reauthorize_during_refresh'
  | 'replayed_put_during_refresh'
  | 'resync_during_refresh'
  | 'put_racing_delete'
  | 'concurrent_callbacks'
  /** DELETE, then PUTs (one to three) of another Zoom user's grants, while the old grant's refresh waits on Zoom. */
  | 'reregister_other_zoom_user_during_refresh';

/**
 * The user removes the app at Zoom (the grant dies there) and Zoom's app_deauthorized is
 * delivered, around the user authorizing again and the backend PUTting the new grant.
 */
export type DeauthorizationOrder =
  /** Delivered, then the new grant is PUT, then the same event delivered again (a redelivery or a replay). */
  | 'delivered_reregistered_replayed'
  /** The new grant is PUT before the event's first delivery. */
  | 'reregistered_then_late'
  /** Delivered while the new grant's PUT runs. */
  | 'concurrent_with_reregistration'
  /** Delivered twice; the user does not come back. */
  | 'delivered_twice_user_gone';

export interface Scenario {
  name: string;
  /** What it shows, one line. */
  about: string;
  rounds: number;
  /** Zoom faults drawn per user per round (weights sum to at most 1; the rest: no fault). */
  zoom?: ZoomFaultChoice[];
  /** Probability per user per round that the user revokes the app at Zoom. */
  revoke?: number;
  dynamo?: DynamoFaults;
  kms?: KmsFaults;
  /** Kill probability per port call (before or after it), and right after a Zoom answer. */
  kill?: { perCall: number; afterZoomAnswer: number };
  /** Probability per user per round of a callback (Recall asking for a token). */
  callbacks: number;
  /** Concurrent sweeps per round. */
  sweeps: number;
  /** Share of users given an interleaving per round, and which ones are drawn from. */
  interleave?: { share: number; kinds: Interleaving[] };
  /** Writer data-key reuse limit of every container's cipher (small: KMS is called again after the token is spent). */
  dataKeyMaxUses?: number;
  /** Share of users per round whose Zoom user removes the app, and in which orders the event meets a re-registration. */
  deauthorize?: { share: number; orders: DeauthorizationOrder[] };
  /**
   * Probability, per Zoom answer a worker gets, that DynamoDB turns slow: the process's next
   * writes hang to the SDK's timeouts, all its attempts but the last, which is answered slowly.
   */
  slowDynamoAfterZoomAnswer?: number;
  /** The shortest worker timeout its Zoom faults need (a reduced run shortens the timeout no further). */
  workerTimeoutAtLeastMs?: number;
}

const DEAD_BODIES: ZoomFaultChoice[] = (
  ['invalid_grant', 'invalid_grant_invalid_token', 'invalid_request_invalid_token', 'code_4741', 'code_4735'] as const
).map((variant) => ({ weight: 0.04, injection: { mode: 'dead_body', variant } }));

export const SCENARIOS: Scenario[] = [
  { name: 'baseline', about: 'no faults: callbacks and two sweeps racing', rounds: 2, callbacks: 0.5, sweeps: 2 },
  {
    name: 'zoom_5xx_429',
    about: '5xx and 429 bursts (Retry-After or not), nothing spent',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 1,
    zoom: [
      { weight: 0.15, injection: { mode: 'http_5xx', status: 503 }, count: 3 },
      { weight: 0.1, injection: { mode: 'http_5xx', status: 500 }, count: 1 },
      { weight: 0.15, injection: { mode: 'http_429', retryAfter: 1 }, count: 2 },
      { weight: 0.1, injection: { mode: 'http_429' }, count: 4 },
    ],
  },
  {
    name: 'zoom_late_answer',
    about: 'token spent, answer after 9.5 s: past the 8 s Zoom timeout, inside the invocation',
    rounds: 1,
    callbacks: 0.5,
    sweeps: 1,
    zoom: [{ weight: 0.15, injection: { mode: 'spend_then_delay', delayMs: 9_500 } }],
    workerTimeoutAtLeastMs: 30_000,
  },
  {
    name: 'zoom_answer_lost',
    about: 'token spent, answer dropped or never sent (unavoidable losses only)',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 1,
    zoom: [
      { weight: 0.1, injection: { mode: 'spend_then_drop' } },
      { weight: 0.05, injection: { mode: 'spend_then_hang' } },
    ],
  },
  {
    name: 'zoom_malformed_success',
    about: 'token spent, 200 without expires_in or with a non-numeric one',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 1,
    zoom: [
      { weight: 0.1, injection: { mode: 'missing_expires_in' } },
      { weight: 0.1, injection: { mode: 'nonnumeric_expires_in' } },
    ],
  },
  {
    name: 'zoom_dead_grants',
    about: 'every dead-grant body variant, and users revoking at Zoom',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 1,
    zoom: DEAD_BODIES,
    revoke: 0.05,
  },
  {
    name: 'kms_faults',
    about: 'GenerateDataKey/Decrypt errors, before and after the token is spent',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 2,
    kms: { generateDataKey: 0.25, decrypt: 0.15 },
    dataKeyMaxUses: 2,
  },
  {
    name: 'dynamo_faults',
    about: 'throttling, timeouts, writes applied but answers lost (SDK retry meets its own condition)',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 2,
    dynamo: { throttle: 0.08, timeoutBefore: 0.04, timeoutAfterWrite: 0.08 },
  },
  {
    name: 'process_kills',
    about: 'processes killed at random port calls and between Zoom answer and write, then restarted',
    rounds: 2,
    callbacks: 0.6,
    sweeps: 2,
    kill: { perCall: 0.01, afterZoomAnswer: 0.1 },
  },
  {
    name: 'interleavings',
    about: 'DELETE / PUT / replayed PUT / re-sync / callbacks on a user while its refresh is in flight',
    rounds: 2,
    callbacks: 0.3,
    sweeps: 1,
    zoom: [{ weight: 1, injection: { mode: 'spend_then_delay', delayMs: 300 } }],
    interleave: {
      share: 0.5,
      kinds: [
        'delete_during_refresh',
        'delete_then_reregister_during_refresh',
        'reauthorize_during_refresh',
        'replayed_put_during_refresh',
        'resync_during_refresh',
        'put_racing_delete',
        'concurrent_callbacks',
      ],
    },
  },
  {
    name: 'reregistration_held_refresh',
    about: 'DELETE and PUTs of another Zoom user while the old refresh waits on Zoom past the lease renewal',
    rounds: 2,
    callbacks: 0.2,
    sweeps: 1,
    zoom: [{ weight: 1, injection: { mode: 'spend_then_delay', delayMs: TIMING.leaseRenewMs + 1_000 } }],
    interleave: { share: 0.6, kinds: ['reregister_other_zoom_user_during_refresh'] },
    workerTimeoutAtLeastMs: 32_000,
  },
  {
    name: 'deauthorization_order',
    about: 'app_deauthorized late, replayed, concurrent or repeated around a re-registration',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 1,
    zoom: [{ weight: 0.3, injection: { mode: 'spend_then_delay', delayMs: 300 } }],
    deauthorize: {
      share: 0.4,
      orders: ['delivered_reregistered_replayed', 'reregistered_then_late', 'concurrent_with_reregistration', 'delivered_twice_user_gone'],
    },
  },
  {
    name: 'dynamo_answers_lost',
    about: 'a third of all writes land and lose their answer: every SDK re-send meets its own write',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 2,
    dynamo: { timeoutAfterWrite: 0.33 },
    interleave: { share: 0.2, kinds: ['delete_then_reregister_during_refresh', 'reauthorize_during_refresh'] },
  },
  {
    name: 'slow_dynamo_after_zoom',
    about: "Zoom answers as late as the worker waits, then DynamoDB hangs to the SDK's timeouts (two attempts) and answers slowly",
    rounds: 1,
    callbacks: 0.3,
    sweeps: 1,
    zoom: [{ weight: 0.5, injection: { mode: 'spend_then_delay', delayMs: 0 }, latestAnswer: true }],
    slowDynamoAfterZoomAnswer: 1,
  },
  {
    name: 'mixed',
    about: 'everything above at once, at lower rates',
    rounds: 2,
    callbacks: 0.5,
    sweeps: 2,
    zoom: [
      { weight: 0.05, injection: { mode: 'http_5xx' }, count: 2 },
      { weight: 0.05, injection: { mode: 'http_429', retryAfter: 1 } },
      { weight: 0.03, injection: { mode: 'spend_then_drop' } },
      { weight: 0.03, injection: { mode: 'spend_then_delay', delayMs: 9_500 } },
      { weight: 0.03, injection: { mode: 'missing_expires_in' } },
      { weight: 0.02, injection: { mode: 'dead_body', variant: 'invalid_request_invalid_token' } },
      { weight: 0.02, injection: { mode: 'dead_body', variant: 'invalid_grant' } },
      { weight: 0.1, injection: { mode: 'spend_then_delay', delayMs: 200 } },
    ],
    revoke: 0.02,
    kms: { generateDataKey: 0.05, decrypt: 0.05 },
    dynamo: { throttle: 0.03, timeoutBefore: 0.02, timeoutAfterWrite: 0.03 },
    kill: { perCall: 0.004, afterZoomAnswer: 0.04 },
    interleave: {
      share: 0.1,
      kinds: [
        'delete_then_reregister_during_refresh',
        'reauthorize_during_refresh',
        'replayed_put_during_refresh',
        'resync_during_refresh',
        'reregister_other_zoom_user_during_refresh',
      ],
    },
    deauthorize: { share: 0.03, orders: ['delivered_reregistered_replayed', 'reregistered_then_late', 'concurrent_with_reregistration'] },
    dataKeyMaxUses: 4,
    workerTimeoutAtLeastMs: 30_000,
  },
];

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface ScenarioResult {
  scenario: string;
  seed: number;
  users: number;
  refreshes: number;
  lostAvoidable: number;
  lostInFlight: number;
  invalidGrantLive: number;
  /** Tokens of a Zoom user other than the registration's: served by a callback, or held by a record at the end. */
  wrongUserTokens: number;
  wrongState: number;
  /** Why each avoidable loss / wrong-user token / wrong state happened, counted. */
  reasons: Record<string, number>;
  faults: Record<string, number>;
  durationMs: number;
}

export function passed(result: ScenarioResult): boolean {
  return result.lostAvoidable === 0 && result.invalidGrantLive === 0 && result.wrongUserTokens === 0 && result.wrongState === 0;
}

export function formatTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'seed',
    'users',
    'refreshes',
    'lost (avoidable)',
    'lost in flight',
    'invalid_grant live',
    'token of another Zoom user served',
    'wrong state',
    'verdict',
  ];
  const rows = results.map((r) => [
    r.scenario,
    String(r.seed),
    String(r.users),
    String(r.refreshes),
    String(r.lostAvoidable),
    String(r.lostInFlight),
    String(r.invalidGrantLive),
    String(r.wrongUserTokens),
    String(r.wrongState),
    passed(r) ? 'ok' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const explained = results.filter((r) => Object.keys(r.reasons).length > 0);
  if (explained.length) {
    out.push('', 'causes (avoidable:…, wrong_user:… and wrong:… fail the run; in_flight:… are the permitted losses):');
    for (const r of explained) {
      const reasons = Object.entries(r.reasons)
        .map(([k, v]) => `${k} x${v}`)
        .join('; ');
      out.push(`  ${r.scenario} seed ${r.seed}: ${reasons}`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The world: servers, containers, invocations
// ---------------------------------------------------------------------------------------------

const NEVER: Promise<never> = new Promise<never>(() => undefined);
const SIGNING_KEYS: SigningKeyProvider = (() => {
  const keyring = parseKeyring(JSON.stringify({ active: 'k1', k1: 'chaos-signing-key-material-0123456789abcdef' }));
  return { keyring: async () => keyring };
})();
const OAUTH_APP_ID = '6f1c5a2e-1111-4a4a-9b9b-0123456789ab';
const ROUND_ADVANCE_MS = 56 * 60_000; // tokens minted an hour ago have 4 min left: due for sweeps and callbacks
const SILENT: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

type OpKind = 'callback' | 'dispatch' | 'worker' | 'admin' | 'events';
/** The function each kind of invocation runs as: its AWS calls are checked against that function's role (test/aws). */
const FUNCTION_OF: Record<OpKind, FunctionName> = {
  callback: 'callback',
  dispatch: 'dispatcher',
  worker: 'refresh-worker',
  admin: 'admin',
  events: 'zoom-events',
};

interface ZoomRequest {
  op: Op;
  token: string;
  sentSeq: number;
  resolvedSeq?: number;
  result?: ZoomRefreshResult['kind'];
  status?: number;
  /**
   * The client gave up after waiting all of the time it was given: whatever Zoom wrote after (or
   * as) the wait ran out, a process starved of CPU may not have read it, so no delivery flag
   * tells better than the client's own clock whether the answer came within the wait.
   */
  waitedFullTimeout?: boolean;
}

interface Op {
  id: number;
  kind: OpKind;
  container: Container;
  killedSeq?: number;
  killReason?: string;
  /** Per user: seqs at which a store.update settled (written, or lost its condition). */
  updates: Map<string, number[]>;
  /** A worker's refresh outcome per user. */
  outcomes: Map<string, string>;
  /** A PUT's: the Zoom user whose grant it stores (noted against the registration it writes). */
  putZoomUser?: string;
  /** The lifecycle events it published. */
  events: LifecycleEvent[];
}

class Container {
  dead = false;
  op?: Op;
  /** What becomes of this invocation's next DynamoDB writes (slowDynamoAfterZoomAnswer). */
  slowWrites: Array<'hung' | 'slow'> = [];
  private readonly dynamo: DynamoDBClient;
  private readonly kms: KMSClient;
  private readonly store: TokenStore;
  private readonly cipher: TokenCipher;
  private readonly zoom: ZoomTokenClient;
  private readonly recall: RecallClient;
  private died!: () => void;
  readonly death = new Promise<void>((resolve) => (this.died = resolve));

  constructor(
    private readonly world: World,
    kind: OpKind,
  ) {
    const accessKeyId = functionAccessKeyId(FUNCTION_OF[kind]);
    this.dynamo = world.dynalite.client(accessKeyId);
    injectDynamoFaults(this.dynamo, () => (world.faultsOn ? world.scenario.dynamo : undefined), world.rngFaults, world.faultCounts);
    sendNothingWhenDead(this.dynamo, () => this.dead);
    injectDynamoSlowness(
      this.dynamo,
      (command) => (command === 'UpdateItemCommand' ? this.slowWrites.shift() : undefined),
      world.faultCounts,
    );
    this.kms = new KMSClient({
      endpoint: world.kmsServer.url,
      region: 'us-east-1',
      credentials: { accessKeyId, secretAccessKey: 'local' },
    });
    injectKmsFaults(this.kms, () => (world.faultsOn ? world.scenario.kms : undefined), world.rngFaults, world.faultCounts);
    sendNothingWhenDead(this.kms, () => this.dead);
    this.store = new DynamoTokenStore({ client: this.dynamo, tableName: TABLE_NAME });
    this.cipher = new KmsEnvelopeCipher({
      kms: this.kms,
      keyId: world.kmsServer.keyArn(DEFAULT_KEY_ID),
      clock: world.clock,
      ...(world.scenario.dataKeyMaxUses ? { dataKeyMaxUses: world.scenario.dataKeyMaxUses } : {}),
    });
    this.zoom = createZoomTokenClient({
      tokenUrl: world.fakeZoom.tokenUrl,
      clientId: DEFAULT_FAKE_ZOOM_CLIENT_ID,
      clientSecret: () => DEFAULT_FAKE_ZOOM_CLIENT_SECRET,
    });
    this.recall = createRecallClient({
      baseUrl: world.fakeRecall.url,
      apiKey: () => DEFAULT_FAKE_RECALL_API_KEY,
      budgetMs: 15_000,
      baseDelayMs: 50,
    });
  }

  kill(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    if (this.op) {
      this.op.killedSeq = this.world.next();
      this.op.killReason = reason;
    }
    this.world.kills[reason] = (this.world.kills[reason] ?? 0) + 1;
    this.died();
  }

  destroy(): void {
    this.dynamo.destroy();
    this.kms.destroy();
  }

  private maybeKill(point: string, phase: 'before' | 'after'): boolean {
    const plan = this.world.faultsOn ? this.world.scenario.kill : undefined;
    if (!plan) return false;
    const p = point === 'zoom.refresh' && phase === 'after' ? plan.afterZoomAnswer : plan.perCall;
    if (this.world.rngKills() >= p) return false;
    this.kill(`${point}:${phase}`);
    return true;
  }

  /** A port call: hangs forever once the process is dead, and may be where it dies. */
  private guard<T>(point: string, call: () => Promise<T>): Promise<T> {
    if (this.dead || this.maybeKill(point, 'before')) return NEVER;
    return call().then(
      (value) => (this.dead || this.maybeKill(point, 'after') ? NEVER : value),
      (error: unknown) => (this.dead ? NEVER : Promise.reject(error)),
    );
  }

  /** After a Zoom answer, DynamoDB may turn slow: the next writes hang, all the SDK's attempts but the last, which is slow. */
  private maybeSlowDown(result: ZoomRefreshResult): void {
    const p = this.world.faultsOn ? this.world.scenario.slowDynamoAfterZoomAnswer : undefined;
    if (result.kind !== 'ok' || !p || this.world.rngFaults() >= p) return;
    this.slowWrites = [...Array<'hung'>(AWS_CLIENT_OPTIONS.maxAttempts - 1).fill('hung'), 'slow'];
  }

  ports(): system.Ports {
    const world = this.world;
    const { store, cipher, zoom, recall } = this;
    const op = () => this.op!;
    // The Zoom user of each registration a PUT writes: the ground truth of "another Zoom user's token".
    const notePut = (registrationId: string) => world.noteRegistration(registrationId, this.op?.putZoomUser);
    const settled = (userId: string) => {
      const list = op().updates.get(userId) ?? [];
      list.push(world.next());
      op().updates.set(userId, list);
    };
    const guardedStore: TokenStore = {
      get: (userId, options) => this.guard('store.get', () => store.get(userId, options)),
      create: (user) => {
        notePut(user.registrationId);
        return this.guard('store.create', () => store.create(user));
      },
      update: (userId, condition, update) => {
        if (update.registeredGeneration != null && update.sealed && !tokensRemoved(update.sealed)) notePut(condition.registrationId);
        return this.guard('store.update', async () => {
          try {
            const written = await store.update(userId, condition, update);
            settled(userId);
            return written;
          } catch (error) {
            if (system.isConflict(error)) settled(userId);
            throw error;
          }
        });
      },
      delete: (userId, condition) => this.guard('store.delete', () => store.delete(userId, condition)),
      listWhere: (field, value, page) => this.guard('store.listWhere', () => store.listWhere(field, value, page)),
      findByZoomUser: (zoomUserId) => this.guard('store.findByZoomUser', () => store.findByZoomUser(zoomUserId)),
      listDue: (dueBefore) => {
        const self = this;
        return (async function* () {
          const iterator = store.listDue(dueBefore)[Symbol.asyncIterator]();
          for (;;) {
            const step = await self.guard('store.listDue', () => iterator.next());
            if (step.done) return;
            yield step.value;
          }
        })();
      },
    };
    const guardedCipher: TokenCipher = {
      prepare: () => this.guard('cipher.prepare', () => cipher.prepare()),
      seal: (owner, tokens) => this.guard('cipher.seal', () => cipher.seal(owner, tokens)),
      open: (owner, sealed) => this.guard('cipher.open', () => cipher.open(owner, sealed)),
    };
    const guardedZoom: ZoomTokenClient = {
      ready: () => this.guard('zoom.ready', () => zoom.ready()),
      refresh: (refreshToken, options) =>
        this.guard('zoom.refresh', async () => {
          const request: ZoomRequest = { op: op(), token: refreshToken, sentSeq: world.next() };
          world.recordRequest(request);
          if (world.faultsOn) world.armLatestAnswer(refreshToken, options?.timeoutMs);
          const startedAt = performance.now();
          const result = await zoom.refresh(refreshToken, options);
          request.resolvedSeq = world.next();
          request.result = result.kind;
          // Node's timers never fire early; 1 ms allows for the two clocks' rounding.
          request.waitedFullTimeout =
            result.kind === 'ambiguous' &&
            result.error === 'timeout' &&
            options?.timeoutMs !== undefined &&
            performance.now() - startedAt >= options.timeoutMs - 1;
          if (result.kind === 'retryable' || result.kind === 'misconfigured') request.status = result.status;
          this.maybeSlowDown(result);
          return result;
        }),
    };
    const guardedRecall: RecallClient = {
      createZoomOAuthCredential: (input) => this.guard('recall.create', () => recall.createZoomOAuthCredential(input)),
      listZoomOAuthCredentials: (filter) => this.guard('recall.list', () => recall.listZoomOAuthCredentials(filter)),
      getZoomOAuthCredential: (id) => this.guard('recall.get', () => recall.getZoomOAuthCredential(id)),
      deleteZoomOAuthCredential: (id) => this.guard('recall.delete', () => recall.deleteZoomOAuthCredential(id)),
    };
    return {
      store: guardedStore,
      cipher: guardedCipher,
      zoom: guardedZoom,
      recall: guardedRecall,
      signingKeys: SIGNING_KEYS,
      clock: world.clock,
      logger: SILENT,
    };
  }
}

/** A PUT of a new grant the backend means to make, and what its attempts came to. */
interface PutIntent {
  kind: 'put';
  tokens: TokenPair;
  accessTokenExpiresAt: number;
  /** The Zoom user whose grant it is. */
  zoomUserId: string;
  attempts: number;
  /** User Registered events its attempts published. */
  registeredEvents: number;
  /** An attempt's process was killed (its event may have died with it). */
  killed: boolean;
}

interface BackendUser {
  userId: string;
  /** The Zoom user of the grant the backend registers now (another one after a re-registration as another Zoom user). */
  zoomUserId: string;
  /** The backend's last intent for the user, not yet confirmed by the API (re-sent when faults end). */
  pending?: PutIntent | { kind: 'delete' };
  /** The tokens of the last PUT the backend sent (for a replayed PUT). */
  lastPut?: { tokens: TokenPair; accessTokenExpiresAt: number; zoomUserId: string };
  deleted: boolean;
}

/** A verified app_deauthorized Zoom means to deliver (redelivered until it is answered 2xx). */
interface DeauthorizationEvent {
  zoomUserId: string;
  deauthorizedAt: number;
}

type OpOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown } | { ok: false; killed: true };

class World {
  seq = 0;
  offsetMs = 0;
  faultsOn = false;
  readonly clock = () => Date.now() + this.offsetMs;
  readonly rngFaults: Rng;
  readonly rngKills: Rng;
  readonly rngPlan: Rng;
  readonly faultCounts: FaultCounts = newFaultCounts();
  readonly kills: Record<string, number> = {};
  private readonly requestsByToken = new Map<string, ZoomRequest[]>();
  private readonly background: Array<Promise<unknown>> = [];
  private readonly idle: Record<OpKind, Container[]> = { callback: [], dispatch: [], worker: [], admin: [], events: [] };
  private readonly all: Container[] = [];
  private opIds = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  readonly users: BackendUser[] = [];
  /** The Zoom users whose grants were PUT under each registration id. */
  private readonly registrationZoomUsers = new Map<string, Set<string>>();
  /** Every token a callback served, for which registration. */
  private readonly served: Array<{ userId: string; registrationId: string; token: string }> = [];
  /** PUT intents the API confirmed. */
  private readonly confirmedPuts: PutIntent[] = [];
  /** Deauthorizations not yet answered 2xx: Zoom delivers them again. */
  private readonly undelivered: DeauthorizationEvent[] = [];
  private zoomUserSerial = 0;
  /** Zoom users whose next refresh gets the latest answer (ZoomFaultChoice.latestAnswer). */
  private readonly latestAnswers = new Set<string>();
  /** The backend user of every Zoom user whose grant was PUT. */
  private readonly zoomOwners = new Map<string, string>();
  dynalite!: Dynalite;
  kmsServer!: KmsServer;
  fakeZoom!: FakeZoom;
  fakeRecall!: FakeRecall;
  callbackServer!: { url: string; close(): Promise<void> };
  private inspectCipher!: KmsEnvelopeCipher;
  private inspectKms!: KMSClient;
  private inspectDynamo!: DynamoDBClient;

  constructor(
    readonly scenario: Scenario,
    readonly seed: number,
    readonly userCount: number,
    readonly invocationMs: Record<OpKind, number> = system.INVOCATION_MS,
  ) {
    const root = mulberry32(seed);
    this.rngFaults = fork(root);
    this.rngKills = fork(root);
    this.rngPlan = fork(root);
  }

  /** Notes that a PUT by an op for `zoomUserId` writes registration `registrationId`. */
  noteRegistration(registrationId: string, zoomUserId: string | undefined): void {
    if (zoomUserId === undefined) return;
    const users = this.registrationZoomUsers.get(registrationId) ?? new Set<string>();
    users.add(zoomUserId);
    this.registrationZoomUsers.set(registrationId, users);
  }

  next(): number {
    return ++this.seq;
  }

  recordRequest(request: ZoomRequest): void {
    const list = this.requestsByToken.get(request.token) ?? [];
    list.push(request);
    this.requestsByToken.set(request.token, list);
  }

  async start(): Promise<void> {
    this.dynalite = await startDynalite(undefined, { onRequest: recordAwsRequest });
    this.kmsServer = await startKmsServer({ onRequest: recordAwsRequest });
    this.fakeZoom = await startFakeZoom({ clock: this.clock });
    this.fakeRecall = await startFakeRecall({ verifyAccessToken: (token) => this.fakeZoom.verifyAccessToken(token), clock: this.clock });
    this.callbackServer = await system.startCallbackServer(SIGNING_KEYS, (subject) => this.callbackOp(subject));
    this.inspectDynamo = this.dynalite.client();
    this.inspectKms = new KMSClient({
      endpoint: this.kmsServer.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    this.inspectCipher = new KmsEnvelopeCipher({ kms: this.inspectKms, keyId: this.kmsServer.keyArn(DEFAULT_KEY_ID) });
  }

  async stop(): Promise<void> {
    for (const container of this.all) container.destroy();
    this.inspectDynamo.destroy();
    this.inspectKms.destroy();
    await this.callbackServer.close();
    await this.fakeRecall.close();
    await this.fakeZoom.close();
    await this.kmsServer.close();
    await this.dynalite.close();
  }

  private get config(): system.RegistrationConfig {
    return { callbackUrl: `${this.callbackServer.url}${CALLBACK_PATH}`, oauthAppId: OAUTH_APP_ID };
  }

  /** Bounds how many invocations run at once (each holds a container with its own SDK clients). */
  private async slot(): Promise<() => void> {
    while (this.running >= 48) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    return () => {
      this.running--;
      this.waiting.shift()?.();
    };
  }

  /** One invocation in a warm container (or a fresh one); killed at its function timeout if still running. */
  async invoke<T>(kind: OpKind, run: (ports: system.Ports, startedAt: number, op: Op) => Promise<T>): Promise<OpOutcome<T>> {
    const release = await this.slot();
    let container = this.idle[kind].pop();
    if (!container) {
      container = new Container(this, kind);
      this.all.push(container);
    }
    const op: Op = { id: ++this.opIds, kind, container, updates: new Map(), outcomes: new Map(), events: [] };
    container.op = op;
    const timeout = setTimeout(() => container.kill('invocation_timeout'), this.invocationMs[kind]);
    try {
      const outcome = await Promise.race([
        run(container.ports(), this.clock(), op).then(
          (value): OpOutcome<T> => ({ ok: true, value }),
          (error: unknown): OpOutcome<T> => ({ ok: false, error }),
        ),
        container.death.then((): OpOutcome<T> => ({ ok: false, killed: true })),
      ]);
      return outcome;
    } finally {
      clearTimeout(timeout);
      container.op = undefined;
      container.slowWrites = [];
      if (!container.dead) this.idle[kind].push(container);
      release();
    }
  }

  /** Recall asking for a user's token: through the signed URL when a subject is given, else as the user's current registration. */
  async callbackOp(subject: string | CallbackSubject): Promise<system.CallbackResult> {
    const resolved = typeof subject === 'string' ? await this.currentSubject(subject) : subject;
    if (!resolved) return { ok: false, error: 'no such user' };
    const outcome = await this.invoke('callback', (ports, startedAt) =>
      system.callback(ports, resolved, startedAt, (userId) => this.requestRefresh(userId)),
    );
    if (outcome.ok && outcome.value.ok) this.served.push({ ...resolved, token: outcome.value.accessToken });
    return outcome.ok ? outcome.value : { ok: false, error: 'killed' };
  }

  private async currentSubject(userId: string): Promise<CallbackSubject | undefined> {
    const answer = await this.inspectDynamo.send(
      new GetItemCommand({ TableName: TABLE_NAME, Key: { user_id: { S: userId } }, ConsistentRead: true }),
    );
    return answer.Item ? { userId, registrationId: toUser(answer.Item).registrationId } : undefined;
  }

  /** A refresh the callback asked for: one worker invocation in some process, as SQS would deliver it. */
  private requestRefresh(userId: string): void {
    this.background.push(this.invoke('worker', (ports, startedAt, op) => this.work(ports, [userId], startedAt, op)));
  }

  /** One worker invocation: its outcomes noted on the op. */
  private work(ports: system.Ports, userIds: string[], startedAt: number, op: Op): Promise<system.WorkResult> {
    return system.work(ports, userIds, startedAt, this.invocationMs.worker, (userId, kind) => op.outcomes.set(userId, kind));
  }

  /** One dispatch, then workers over its batches (as the event source mapping runs them), and one redelivery of what failed. */
  async sweepOp(): Promise<void> {
    const dispatched = await this.invoke('dispatch', (ports, startedAt) => system.dispatch(ports, startedAt));
    if (!dispatched.ok) return;
    let pending = dispatched.value;
    for (let delivery = 1; delivery <= 2 && pending.length > 0; delivery++) {
      const batches: string[][] = [];
      for (let i = 0; i < pending.length; i += system.WORKER_BATCH) batches.push(pending.slice(i, i + system.WORKER_BATCH));
      const results = await Promise.all(
        batches.map((batch) => this.invoke('worker', (ports, startedAt, op) => this.work(ports, batch, startedAt, op))),
      );
      pending = results.flatMap((result, i) => (result.ok ? result.value.retry : batches[i]));
    }
  }

  /** Waits for the worker invocations callbacks asked for. */
  async drainBackground(): Promise<void> {
    while (this.background.length) await Promise.all(this.background.splice(0));
  }

  /** The backend sends its pending PUT/DELETE, retrying a few times as a client would. */
  async sendPending(user: BackendUser, attempts = 3): Promise<void> {
    for (let attempt = 1; attempt <= attempts && user.pending; attempt++) {
      const pending = user.pending;
      const outcome =
        pending.kind === 'put'
          ? await this.put(user.userId, pending)
          : await this.invoke('admin', (ports) => system.removeUser(ports, user.userId));
      if (user.pending !== pending) return; // superseded by a newer intent meanwhile
      if (outcome.ok || ('error' in outcome && system.isNotFound(outcome.error))) {
        user.pending = undefined;
        if (outcome.ok && pending.kind === 'put') this.confirmedPuts.push(pending);
      }
    }
  }

  /** One PUT attempt of `intent`, its lifecycle events counted. */
  private async put(userId: string, intent: PutIntent): Promise<OpOutcome<unknown>> {
    let events: LifecycleEvent[] = [];
    const outcome = await this.invoke('admin', (ports, _startedAt, op) => {
      op.putZoomUser = intent.zoomUserId;
      events = op.events;
      return system.putTokens(ports, this.config, userId, intent, { publish: async (batch) => void op.events.push(...batch) });
    });
    intent.attempts += 1;
    intent.registeredEvents += events.filter((event) => event.detailType === EVENT_DETAIL_TYPES.userRegistered).length;
    if ('killed' in outcome) intent.killed = true;
    return outcome;
  }

  /** A new grant: the user went through Zoom's OAuth flow; the backend PUTs the tokens. */
  async authorizeAndPut(user: BackendUser): Promise<void> {
    const zoomUserId = user.zoomUserId;
    this.zoomOwners.set(zoomUserId, user.userId);
    const grant = this.fakeZoom.authorize(zoomUserId);
    const put = {
      tokens: { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope },
      accessTokenExpiresAt: this.clock() + grant.expires_in * 1000,
      zoomUserId,
    };
    user.pending = { kind: 'put', ...put, attempts: 0, registeredEvents: 0, killed: false };
    user.lastPut = put;
    user.deleted = false;
    await this.sendPending(user);
  }

  /** The user is deleted and registered again as another Zoom user, whose grant is PUT `puts` times (new grants each). */
  async reregisterAsAnotherZoomUser(user: BackendUser, puts: number): Promise<void> {
    await this.deleteUser(user);
    user.zoomUserId = `${user.zoomUserId.split('~')[0]}~${++this.zoomUserSerial}`;
    for (let i = 0; i < puts; i++) await this.authorizeAndPut(user);
  }

  /** Zoom delivers an app_deauthorized (one Zoom events invocation); one not answered 2xx is kept for redelivery. */
  async deliver(event: DeauthorizationEvent): Promise<void> {
    const outcome = await this.invoke('events', (ports) => system.deauthorize(ports, event));
    if (!outcome.ok) this.undelivered.push(event);
  }

  /**
   * The user removes the app at Zoom (its grant dies at once) and Zoom's event is delivered in
   * `order` around the user authorizing again and the backend PUTting the new grant.
   */
  async deauthorization(user: BackendUser, order: DeauthorizationOrder, gapMs: number): Promise<void> {
    this.fakeZoom.revoke(user.zoomUserId);
    const event = { zoomUserId: user.zoomUserId, deauthorizedAt: this.clock() };
    const reauthorize = () => sleep(gapMs).then(() => this.authorizeAndPut(user));
    switch (order) {
      case 'delivered_reregistered_replayed':
        await this.deliver(event);
        await reauthorize();
        return this.deliver(event);
      case 'reregistered_then_late':
        await reauthorize();
        return this.deliver(event);
      case 'concurrent_with_reregistration':
        await Promise.all([this.deliver(event), reauthorize()]);
        return;
      case 'delivered_twice_user_gone':
        await this.deliver(event);
        await sleep(gapMs);
        return this.deliver(event);
    }
  }

  async deleteUser(user: BackendUser): Promise<void> {
    user.pending = { kind: 'delete' };
    user.deleted = true;
    await this.sendPending(user);
  }

  async replayLastPut(user: BackendUser): Promise<void> {
    const last = user.lastPut;
    if (!last) return;
    await this.invoke('admin', (ports, _startedAt, op) => {
      op.putZoomUser = last.zoomUserId;
      return system.putTokens(ports, this.config, user.userId, last);
    });
  }

  async resync(user: BackendUser): Promise<void> {
    await this.invoke('admin', (ports) => system.resyncRecall(ports, this.config, user.userId));
  }

  // -------------------------------------------------------------------------------------------

  async setup(): Promise<void> {
    for (let i = 0; i < this.userCount; i++) this.users.push({ userId: `user-${i}`, zoomUserId: `zoom-${i}`, deleted: false });
    await inPool(this.users, 16, (user) => this.authorizeAndPut(user));
    const unregistered = this.users.filter((user) => user.pending);
    if (unregistered.length) throw new Error(`chaos setup: ${unregistered.length} users could not be registered without faults`);
  }

  async round(): Promise<void> {
    const { scenario, rngPlan: rng } = this;
    this.offsetMs += ROUND_ADVANCE_MS;
    const live = this.users.filter((user) => !user.deleted);
    for (const user of live) {
      if (scenario.revoke && rng() < scenario.revoke) this.fakeZoom.revoke(user.zoomUserId);
      const fault = scenario.zoom
        ? weighted(
            rng,
            scenario.zoom.map((choice) => ({ weight: choice.weight, value: choice })),
          )
        : undefined;
      if (fault?.latestAnswer) this.latestAnswers.add(user.zoomUserId);
      else if (fault) this.fakeZoom.inject(fault.injection, { zoomUserId: user.zoomUserId, count: fault.count ?? 1 });
    }
    const tasks: Array<Promise<unknown>> = [];
    const later = (ms: number, task: () => Promise<unknown>) => tasks.push(sleep(ms).then(task));
    this.faultsOn = true;
    for (let i = 0; i < scenario.sweeps; i++) later(Math.floor(rng() * 50), () => this.sweepOp());
    for (const user of live) {
      if (rng() < scenario.callbacks) later(Math.floor(rng() * 200), () => this.callbackOp(user.userId));
      // One admin flow per user and round: two OAuth flows of one user whose PUTs race are the
      // backend's ordering to keep (the older grant's PUT may land last), not the vault's.
      if (scenario.interleave && rng() < scenario.interleave.share) this.interleave(user, pick(rng, scenario.interleave.kinds), later);
      else if (scenario.deauthorize && rng() < scenario.deauthorize.share) {
        const order = pick(rng, scenario.deauthorize.orders);
        const gap = 20 + Math.floor(rng() * 200);
        later(Math.floor(rng() * 200), () => this.deauthorization(user, order, gap));
      }
    }
    await Promise.all(tasks);
    await this.drainBackground();
    this.faultsOn = false;
    this.fakeZoom.clearInjections();
    this.latestAnswers.clear();
  }

  /**
   * Just before a refresh request goes out: a Zoom user drawn for the latest answer gets its
   * answer delayed to a second before the wait the request is given ends.
   */
  armLatestAnswer(refreshToken: string, timeoutMs: number | undefined): void {
    const zoomUserId = this.fakeZoom.tokenOwner(refreshToken);
    if (zoomUserId === undefined || timeoutMs === undefined || !this.latestAnswers.delete(zoomUserId)) return;
    this.fakeZoom.inject({ mode: 'spend_then_delay', delayMs: Math.max(0, timeoutMs - 1_000) }, { zoomUserId });
  }

  /** A callback asks for the user's token (a refresh starts); an admin call lands while it waits for Zoom. */
  private interleave(user: BackendUser, kind: Interleaving, later: (ms: number, task: () => Promise<unknown>) => void): void {
    const rng = this.rngPlan;
    const at = Math.floor(rng() * 200);
    const gap = 20 + Math.floor(rng() * 200); // the admin call lands while the refresh waits for Zoom
    later(at, () => this.callbackOp(user.userId));
    switch (kind) {
      case 'delete_during_refresh':
        later(at + gap, () => this.deleteUser(user));
        break;
      case 'delete_then_reregister_during_refresh':
        later(at + gap, async () => {
          await this.deleteUser(user);
          await this.authorizeAndPut(user);
        });
        break;
      case 'reregister_other_zoom_user_during_refresh': {
        // One to three PUTs, spread over the users: the new registration's version (counted again
        // from 1) meets the old lease's for some of them, as a version-only condition needs.
        const puts = 1 + (this.users.indexOf(user) % 3);
        later(at + gap, () => this.reregisterAsAnotherZoomUser(user, puts));
        break;
      }
      case 'reauthorize_during_refresh':
        later(at + gap, () => this.authorizeAndPut(user));
        break;
      case 'replayed_put_during_refresh':
        later(at + gap, () => this.replayLastPut(user));
        break;
      case 'resync_during_refresh':
        later(at + gap, () => this.resync(user));
        break;
      case 'put_racing_delete':
        // A new grant's PUT and a DELETE sent at once: whichever wins, no half state may remain.
        later(at + gap, () => this.authorizeAndPut(user));
        later(at + gap + Math.floor(rng() * 30), () => this.deleteUser(user));
        break;
      case 'concurrent_callbacks':
        later(at + 1, () => this.callbackOp(user.userId));
        later(at + gap, () => this.callbackOp(user.userId));
        break;
    }
  }

  /** Faults off, leases expired, the backend's unconfirmed intents re-sent, one clean sweep. */
  async settle(): Promise<void> {
    this.faultsOn = false;
    this.fakeZoom.clearInjections();
    this.latestAnswers.clear();
    this.offsetMs += ROUND_ADVANCE_MS;
    await inPool(
      this.users.filter((user) => user.pending),
      8,
      (user) => this.sendPending(user, 5),
    );
    // Zoom redelivers the deauthorizations not answered 2xx (after the backend's re-sends: late).
    for (const event of this.undelivered.splice(0)) await this.deliver(event);
    await this.sweepOp();
    // A worker that took over a lease gives no verdict on invalid_grant while the holder may still be
    // alive (a worker's timeout): a second sweep, past any lease and any holder's life, converges.
    this.offsetMs += 31_000 + TIMING.workerTimeoutMs;
    await this.sweepOp();
    // Late answers still on their way (spend_then_delay) are delivered or found abandoned.
    for (let waited = 0; waited < 12_000 && this.fakeZoom.issuances().some((i) => i.delivery === 'pending'); waited += 100)
      await sleep(100);
  }

  // -------------------------------------------------------------------------------------------

  /** The request that spent `spent`: the first one sent with it that Zoom did not turn away unspent. */
  private spender(spent: string): ZoomRequest | undefined {
    const candidates = (this.requestsByToken.get(spent) ?? []).filter(
      (request) => !(request.result === 'retryable' && request.status !== undefined && (request.status === 429 || request.status >= 500)),
    );
    return candidates.sort((a, b) => a.sentSeq - b.sentSeq)[0];
  }

  /** Why the live token never reached storage: 'in_flight:…' when unavoidable, else the avoidable cause. */
  private lossCause(user: BackendUser, live: string, issuances: Map<string, Issuance>): string {
    const issuance = issuances.get(live);
    if (!issuance) return 'avoidable:live_token_unknown';
    if (issuance.source === 'authorize') return 'avoidable:registered_tokens_not_stored';
    if (issuance.delivery === 'dropped') return `in_flight:zoom_never_answered(${issuance.mode ?? 'none'})`;
    const request = this.spender(issuance.spent!);
    if (!request) return 'avoidable:spent_by_unknown_request';
    const op = request.op;
    const mode = issuance.mode ? `,${issuance.mode}` : '';
    // The worker waited for Zoom as long as its invocation allowed and no answer came (or came as the
    // wait ran out): like a process that died waiting, nothing could have stored it.
    if (op.killedSeq === undefined && request.result === 'ambiguous' && (issuance.delivery !== 'sent' || request.waitedFullTimeout))
      return `in_flight:no_answer_within_invocation${mode}`;
    if (op.killedSeq === undefined)
      return `avoidable:answer_${issuance.delivery}_to_live_process(result=${request.result ?? 'none'}${mode})`;
    if (request.resolvedSeq === undefined || request.resolvedSeq > op.killedSeq)
      return `in_flight:process_died_before_answer(${op.killReason})`;
    // Its own timeout after Zoom's answer: the save did not fit the reserve kept for it.
    if (op.killReason === 'invocation_timeout' && request.result === 'ok') return `avoidable:timed_out_between_answer_and_write${mode}`;
    const writes = (op.updates.get(user.userId) ?? []).filter((seq) => seq > request.resolvedSeq! && seq < op.killedSeq!);
    if (writes.length === 0) return `in_flight:process_died_between_answer_and_write(${op.killReason})`;
    return `avoidable:answer_received_and_not_stored(result=${request.result}${mode})`;
  }

  async judge(durationMs: number): Promise<ScenarioResult> {
    const result: ScenarioResult = {
      scenario: this.scenario.name,
      seed: this.seed,
      users: this.users.length,
      refreshes: 0,
      lostAvoidable: 0,
      lostInFlight: 0,
      invalidGrantLive: 0,
      wrongUserTokens: 0,
      wrongState: 0,
      reasons: {},
      faults: { ...prefixed('dynamo', this.faultCounts.dynamo), ...prefixed('kms', this.faultCounts.kms), ...prefixed('kill', this.kills) },
      durationMs,
    };
    const issuanceList = this.fakeZoom.issuances();
    result.refreshes = issuanceList.filter((issuance) => issuance.source === 'refresh').length;
    const records = await this.storedRecords();
    const issuances = new Map(issuanceList.map((issuance) => [issuance.issued, issuance]));
    const verdict: Verdict = { result, issuances, records, storedRefreshTokens: new Set() };
    for (const user of this.users) await this.judgeUser(user, verdict);
    this.judgeServedTokens(verdict);
    this.judgeLandedWrites(verdict, issuanceList);
    return result;
  }

  /** Every record in the table, read consistently. */
  private async storedRecords(): Promise<Map<string, StoredUser>> {
    const records = new Map<string, StoredUser>();
    let startKey: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
    do {
      const page = await this.inspectDynamo.send(
        new ScanCommand({ TableName: TABLE_NAME, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) {
        const user = toUser(item);
        records.set(user.userId, user);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  /** One user's end state against Zoom's and Recall's ground truth. */
  private async judgeUser(user: BackendUser, verdict: Verdict): Promise<void> {
    const { result, records } = verdict;
    const record = records.get(user.userId);
    const zoom = this.fakeZoom.grantState(user.zoomUserId);
    const held = this.fakeRecall.credentials().filter((credential) => callbackUser(credential.access_token_callback_url) === user.userId);
    if (!record || tokensRemoved(record.sealed)) {
      if (held.length) note(result, 'wrongState', `wrong:recall_credential_left_for_${record ? 'deauthorized' : 'deleted'}_user`);
      // The grant the backend registered last is alive and its tokens are gone.
      if (record && zoom.alive) note(result, 'lostAvoidable', 'avoidable:live_grant_deauthorized');
      return;
    }
    const tokens = await this.inspectCipher.open(record, sealedTokensOf(record)).catch((error: unknown) => {
      if (error instanceof UnreadableRecordError) return undefined;
      throw error;
    });
    if (!tokens) {
      note(result, 'wrongState', 'wrong:stored_pair_does_not_open_on_its_record');
      return;
    }
    verdict.storedRefreshTokens.add(tokens.refreshToken);
    const owner = this.fakeZoom.tokenOwner(tokens.accessToken);
    if (owner !== undefined && !this.registrationZoomUsers.get(record.registrationId)?.has(owner))
      note(result, 'wrongUserTokens', 'wrong_user:record_holds_another_zoom_users_token');
    if (zoom.alive) this.judgeLiveGrant(user, record, tokens, zoom.liveRefreshToken!, verdict);
    else if (record.status === 'active')
      note(result, 'wrongState', `wrong:active_with_dead_grant(${record.lastError?.code ?? 'no error noted'})`);
    if (record.recall.status === 'registered') {
      const credential = this.fakeRecall.credentials().find((c) => c.id === record.recall.credentialId);
      if (!credential || callbackUser(credential.access_token_callback_url) !== user.userId)
        note(result, 'wrongState', 'wrong:registered_without_recall_credential');
    }
  }

  /** A live grant: the stored refresh token must be its live one, the record not condemned, the access token usable. */
  private judgeLiveGrant(user: BackendUser, record: StoredUser, tokens: TokenPair, live: string, verdict: Verdict): void {
    const { result } = verdict;
    const lost = tokens.refreshToken !== live || record.status === 'reauth_required';
    if (!lost) {
      if (!this.fakeZoom.verifyAccessToken(tokens.accessToken)) note(result, 'wrongState', 'wrong:active_but_access_token_unusable');
      return;
    }
    // Double check against the fake: the live token is the grant's, the stored one is not it.
    const cause = tokens.refreshToken === live ? 'avoidable:condemned_live_token' : this.lossCause(user, live, verdict.issuances);
    note(result, cause.startsWith('in_flight:') ? 'lostInFlight' : 'lostAvoidable', cause);
    if (record.status === 'reauth_required' && tokens.refreshToken === live) result.invalidGrantLive++;
  }

  /** Every token a callback served belongs to a Zoom user registered under the callback's registration. */
  private judgeServedTokens({ result }: Verdict): void {
    for (const served of this.served) {
      const owner = this.fakeZoom.tokenOwner(served.token);
      const registered = this.registrationZoomUsers.get(served.registrationId);
      if (!registered) note(result, 'wrongState', 'wrong:served_for_a_registration_never_put');
      else if (owner !== undefined && !registered.has(owner))
        note(result, 'wrongUserTokens', 'wrong_user:callback_served_another_zoom_users_token');
    }
  }

  /**
   * Writes that landed must be reported as landed: a refresh whose pair was stored (a later
   * request spent it, or it is the stored one) is never counted superseded or unsaved; a PUT of a
   * new grant confirmed at its first attempt, not killed, published its User Registered event.
   */
  private judgeLandedWrites({ result, storedRefreshTokens }: Verdict, issuances: Issuance[]): void {
    for (const issuance of issuances) {
      if (issuance.source !== 'refresh' || issuance.delivery !== 'sent') continue;
      const request = this.spender(issuance.spent!);
      const userId = this.zoomOwners.get(issuance.zoomUserId);
      const outcome = request?.result === 'ok' && userId ? request.op.outcomes.get(userId) : undefined;
      const landed = storedRefreshTokens.has(issuance.issued) || this.requestsByToken.has(issuance.issued);
      if ((outcome === 'superseded' || outcome === 'unsaved') && landed)
        note(result, 'wrongState', `wrong:landed_save_reported_${outcome}`);
    }
    for (const put of this.confirmedPuts) {
      if (put.attempts === 1 && !put.killed && put.registeredEvents === 0)
        note(result, 'wrongState', 'wrong:new_grant_put_without_user_registered');
    }
  }
}

/** What the judge reads once: the result it fills, Zoom's issuances by refresh token, the stored records. */
interface Verdict {
  result: ScenarioResult;
  issuances: Map<string, Issuance>;
  records: Map<string, StoredUser>;
  /** The refresh tokens the records hold (filled as the users are judged). */
  storedRefreshTokens: Set<string>;
}

type Counted = 'lostAvoidable' | 'lostInFlight' | 'wrongUserTokens' | 'wrongState';

/** Counts one finding and its cause. */
function note(result: ScenarioResult, counter: Counted, cause: string): void {
  result[counter]++;
  result.reasons[cause] = (result.reasons[cause] ?? 0) + 1;
}

function callbackUser(url: string): string | null {
  return new URL(url).searchParams.get('user_id');
}

function prefixed(prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix}:${k}`, v]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function inPool<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

/** Runs one scenario with one seed on fresh servers and returns its verdict. */
export async function runScenario(
  scenario: Scenario,
  options: { seed: number; users: number; rounds?: number; workerTimeoutMs?: number },
): Promise<ScenarioResult> {
  const rounds = options.rounds ?? scenario.rounds;
  const worker = Math.max(options.workerTimeoutMs ?? system.INVOCATION_MS.worker, scenario.workerTimeoutAtLeastMs ?? 0);
  const world = new World(scenario, options.seed, options.users, { ...system.INVOCATION_MS, worker });
  const startedAt = Date.now();
  await world.start();
  try {
    await world.setup();
    for (let round = 0; round < rounds; round++) await world.round();
    await world.settle();
    return await world.judge(Date.now() - startedAt);
  } finally {
    await world.stop();
  }
}

export function scenarioNamed(name: string): Scenario {
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new Error(`no chaos scenario ${name}`);
  return scenario;
}
