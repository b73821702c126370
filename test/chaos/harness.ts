/**
 * The chaos harness: many users driven through the real domain code and the real adapters
 * (DynamoTokenStore on dynalite, KmsEnvelopeCipher on the KMS stand-in, the Zoom and Recall
 * clients over HTTP against the fakes), with faults injected scenario by scenario from a seeded
 * PRNG, processes killed and restarted, and a verdict from the fake Zoom's ground truth.
 *
 * A "container" is one process (a Lambda container): its own SDK clients, cipher (and data-key
 * cache) and HTTP clients, running one invocation at a time. Killing it makes every port call of
 * its invocation hang from then on (its promise chain is abandoned, as if the process had died);
 * requests already on the wire still land. The next invocation gets a fresh container on the
 * same dynalite, KMS and fakes.
 *
 * Verdict per user, after a settling sweep with no faults: LOST when Zoom still honours the grant
 * but the stored refresh token is not its live one, or the record says reauth_required. A loss is
 * UNAVOIDABLE ("lost in flight") only when the answer carrying the live token never reached
 * storage because it never reached the process (Zoom dropped it, or the process died before it
 * arrived) or the process died between receiving it and its write; anything else is AVOIDABLE.
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
import { sealedTokensOf, type TokenPair } from '../../functions/domain/token-record';
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
import { injectDynamoFaults, injectKmsFaults, newFaultCounts, type DynamoFaults, type FaultCounts, type KmsFaults } from './aws-faults';
import { fork, mulberry32, pick, weighted, type Rng } from './prng';
import * as system from './system';
import { TIMING } from '../../functions/domain/timing';

// ---------------------------------------------------------------------------------------------
// Scenarios as data
// ---------------------------------------------------------------------------------------------

export interface ZoomFaultChoice {
  weight: number;
  injection: ZoomInjection;
  /** How many consecutive requests of the user it hits (a burst). Default 1. */
  count?: number;
}

/** Admin/API interleavings on one user, run concurrently with that user's refresh. */
export type Interleaving =
  | 'delete_during_refresh'
  | 'delete_then_reregister_during_refresh'
  | 'reauthorize_during_refresh'
  | 'replayed_put_during_refresh'
  | 'resync_during_refresh'
  | 'put_racing_delete'
  | 'concurrent_callbacks';

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
      ],
    },
    dataKeyMaxUses: 4,
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
  wrongState: number;
  /** Why each avoidable loss / wrong state happened, counted. */
  reasons: Record<string, number>;
  faults: Record<string, number>;
  durationMs: number;
}

export function passed(result: ScenarioResult): boolean {
  return result.lostAvoidable === 0 && result.invalidGrantLive === 0 && result.wrongState === 0;
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
    String(r.wrongState),
    passed(r) ? 'ok' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const explained = results.filter((r) => Object.keys(r.reasons).length > 0);
  if (explained.length) {
    out.push('', 'causes (avoidable:… and wrong:… fail the run; in_flight:… are the permitted losses):');
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

type OpKind = 'callback' | 'dispatch' | 'worker' | 'admin';

interface ZoomRequest {
  op: Op;
  token: string;
  sentSeq: number;
  resolvedSeq?: number;
  result?: ZoomRefreshResult['kind'];
  status?: number;
}

interface Op {
  id: number;
  kind: OpKind;
  container: Container;
  killedSeq?: number;
  killReason?: string;
  /** Per user: seqs at which a store.update settled (written, or lost its condition). */
  updates: Map<string, number[]>;
}

class Container {
  dead = false;
  op?: Op;
  private readonly dynamo: DynamoDBClient;
  private readonly kms: KMSClient;
  private readonly store: TokenStore;
  private readonly cipher: TokenCipher;
  private readonly zoom: ZoomTokenClient;
  private readonly recall: RecallClient;
  private died!: () => void;
  readonly death = new Promise<void>((resolve) => (this.died = resolve));

  constructor(private readonly world: World) {
    this.dynamo = world.dynalite.client();
    injectDynamoFaults(this.dynamo, () => (world.faultsOn ? world.scenario.dynamo : undefined), world.rngFaults, world.faultCounts);
    this.kms = new KMSClient({
      endpoint: world.kmsServer.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    injectKmsFaults(this.kms, () => (world.faultsOn ? world.scenario.kms : undefined), world.rngFaults, world.faultCounts);
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

  ports(): system.Ports {
    const world = this.world;
    const { store, cipher, zoom, recall } = this;
    const op = () => this.op!;
    const settled = (userId: string) => {
      const list = op().updates.get(userId) ?? [];
      list.push(world.next());
      op().updates.set(userId, list);
    };
    const guardedStore: TokenStore = {
      get: (userId, options) => this.guard('store.get', () => store.get(userId, options)),
      create: (user) => this.guard('store.create', () => store.create(user)),
      update: (userId, condition, update) =>
        this.guard('store.update', async () => {
          try {
            const written = await store.update(userId, condition, update);
            settled(userId);
            return written;
          } catch (error) {
            if (system.isConflict(error)) settled(userId);
            throw error;
          }
        }),
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
          const result = await zoom.refresh(refreshToken, options);
          request.resolvedSeq = world.next();
          request.result = result.kind;
          if (result.kind === 'retryable' || result.kind === 'misconfigured') request.status = result.status;
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

interface BackendUser {
  userId: string;
  zoomUserId: string;
  /** The backend's last intent for the user, not yet confirmed by the API (re-sent when faults end). */
  pending?: { kind: 'put'; tokens: TokenPair; accessTokenExpiresAt: number } | { kind: 'delete' };
  /** The tokens of the last PUT the backend sent (for a replayed PUT). */
  lastPut?: { tokens: TokenPair; accessTokenExpiresAt: number };
  deleted: boolean;
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
  private readonly idle: Record<OpKind, Container[]> = { callback: [], dispatch: [], worker: [], admin: [] };
  private readonly all: Container[] = [];
  private opIds = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  readonly users: BackendUser[] = [];
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

  next(): number {
    return ++this.seq;
  }

  recordRequest(request: ZoomRequest): void {
    const list = this.requestsByToken.get(request.token) ?? [];
    list.push(request);
    this.requestsByToken.set(request.token, list);
  }

  async start(): Promise<void> {
    this.dynalite = await startDynalite();
    this.kmsServer = await startKmsServer();
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
  async invoke<T>(kind: OpKind, run: (ports: system.Ports, startedAt: number) => Promise<T>): Promise<OpOutcome<T>> {
    const release = await this.slot();
    let container = this.idle[kind].pop();
    if (!container) {
      container = new Container(this);
      this.all.push(container);
    }
    const op: Op = { id: ++this.opIds, kind, container, updates: new Map() };
    container.op = op;
    const timeout = setTimeout(() => container.kill('invocation_timeout'), this.invocationMs[kind]);
    try {
      const outcome = await Promise.race([
        run(container.ports(), this.clock()).then(
          (value): OpOutcome<T> => ({ ok: true, value }),
          (error: unknown): OpOutcome<T> => ({ ok: false, error }),
        ),
        container.death.then((): OpOutcome<T> => ({ ok: false, killed: true })),
      ]);
      return outcome;
    } finally {
      clearTimeout(timeout);
      container.op = undefined;
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
    this.background.push(this.invoke('worker', (ports, startedAt) => system.work(ports, [userId], startedAt, this.invocationMs.worker)));
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
        batches.map((batch) => this.invoke('worker', (ports, startedAt) => system.work(ports, batch, startedAt, this.invocationMs.worker))),
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
          ? await this.invoke('admin', (ports) =>
              system.putTokens(ports, this.config, user.userId, pending.tokens, pending.accessTokenExpiresAt),
            )
          : await this.invoke('admin', (ports) => system.removeUser(ports, user.userId));
      if (user.pending !== pending) return; // superseded by a newer intent meanwhile
      if (outcome.ok || ('error' in outcome && system.isNotFound(outcome.error))) user.pending = undefined;
    }
  }

  /** A new grant: the user went through Zoom's OAuth flow; the backend PUTs the tokens. */
  async authorizeAndPut(user: BackendUser): Promise<void> {
    const grant = this.fakeZoom.authorize(user.zoomUserId);
    const put = {
      tokens: { accessToken: grant.access_token, refreshToken: grant.refresh_token, scope: grant.scope },
      accessTokenExpiresAt: this.clock() + grant.expires_in * 1000,
    };
    user.pending = { kind: 'put', ...put };
    user.lastPut = put;
    user.deleted = false;
    await this.sendPending(user);
  }

  async deleteUser(user: BackendUser): Promise<void> {
    user.pending = { kind: 'delete' };
    user.deleted = true;
    await this.sendPending(user);
  }

  async replayLastPut(user: BackendUser): Promise<void> {
    const last = user.lastPut;
    if (!last) return;
    await this.invoke('admin', (ports) => system.putTokens(ports, this.config, user.userId, last.tokens, last.accessTokenExpiresAt));
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
      if (fault) this.fakeZoom.inject(fault.injection, { zoomUserId: user.zoomUserId, count: fault.count ?? 1 });
    }
    const tasks: Array<Promise<unknown>> = [];
    const later = (ms: number, task: () => Promise<unknown>) => tasks.push(sleep(ms).then(task));
    this.faultsOn = true;
    for (let i = 0; i < scenario.sweeps; i++) later(Math.floor(rng() * 50), () => this.sweepOp());
    for (const user of live) {
      if (rng() < scenario.callbacks) later(Math.floor(rng() * 200), () => this.callbackOp(user.userId));
      if (scenario.interleave && rng() < scenario.interleave.share) {
        const kind = pick(rng, scenario.interleave.kinds);
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
    }
    await Promise.all(tasks);
    await this.drainBackground();
    this.faultsOn = false;
    this.fakeZoom.clearInjections();
  }

  /** Faults off, leases expired, the backend's unconfirmed intents re-sent, one clean sweep. */
  async settle(): Promise<void> {
    this.faultsOn = false;
    this.fakeZoom.clearInjections();
    this.offsetMs += ROUND_ADVANCE_MS;
    await inPool(
      this.users.filter((user) => user.pending),
      8,
      (user) => this.sendPending(user, 5),
    );
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
    // The worker waited for Zoom as long as its invocation allowed and no answer came: like a process
    // that died waiting, nothing could have stored it.
    if (op.killedSeq === undefined && request.result === 'ambiguous' && issuance.delivery !== 'sent')
      return `in_flight:no_answer_within_invocation${mode}`;
    if (op.killedSeq === undefined)
      return `avoidable:answer_${issuance.delivery}_to_live_process(result=${request.result ?? 'none'}${mode})`;
    if (request.resolvedSeq === undefined || request.resolvedSeq > op.killedSeq)
      return `in_flight:process_died_before_answer(${op.killReason})`;
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
      wrongState: 0,
      reasons: {},
      faults: { ...prefixed('dynamo', this.faultCounts.dynamo), ...prefixed('kms', this.faultCounts.kms), ...prefixed('kill', this.kills) },
      durationMs,
    };
    const note = (reason: string) => (result.reasons[reason] = (result.reasons[reason] ?? 0) + 1);
    const issuanceList = this.fakeZoom.issuances();
    result.refreshes = issuanceList.filter((issuance) => issuance.source === 'refresh').length;
    const issuances = new Map(issuanceList.map((issuance) => [issuance.issued, issuance]));
    const credentials = this.fakeRecall.credentials();
    const callbackUser = (url: string) => new URL(url).searchParams.get('user_id');
    const records = new Map<string, ReturnType<typeof toUser>>();
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

    for (const user of this.users) {
      const record = records.get(user.userId);
      const zoom = this.fakeZoom.grantState(user.zoomUserId);
      const held = credentials.filter((credential) => callbackUser(credential.access_token_callback_url) === user.userId);
      if (!record) {
        if (held.length) {
          result.wrongState++;
          note('wrong:recall_credential_left_for_deleted_user');
        }
        continue;
      }
      const tokens = await this.inspectCipher.open(record, sealedTokensOf(record));
      if (zoom.alive) {
        const lost = tokens.refreshToken !== zoom.liveRefreshToken || record.status === 'reauth_required';
        if (lost) {
          // Double check against the fake: the live token is the grant's, the stored one is not it.
          const cause =
            tokens.refreshToken === zoom.liveRefreshToken
              ? 'avoidable:condemned_live_token'
              : this.lossCause(user, zoom.liveRefreshToken!, issuances);
          if (cause.startsWith('in_flight:')) result.lostInFlight++;
          else result.lostAvoidable++;
          note(cause);
          if (record.status === 'reauth_required' && tokens.refreshToken === zoom.liveRefreshToken) result.invalidGrantLive++;
        } else if (!this.fakeZoom.verifyAccessToken(tokens.accessToken)) {
          result.wrongState++;
          note('wrong:active_but_access_token_unusable');
        }
      } else if (record.status === 'active') {
        result.wrongState++;
        note(`wrong:active_with_dead_grant(${record.lastError?.code ?? 'no error noted'})`);
      }
      if (record.recall.status === 'registered') {
        const credential = credentials.find((c) => c.id === record.recall.credentialId);
        if (!credential || callbackUser(credential.access_token_callback_url) !== user.userId) {
          result.wrongState++;
          note('wrong:registered_without_recall_credential');
        }
      }
    }
    return result;
  }
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
  const world = new World(scenario, options.seed, options.users, {
    ...system.INVOCATION_MS,
    worker: options.workerTimeoutMs ?? system.INVOCATION_MS.worker,
  });
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
