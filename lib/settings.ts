import { Annotations, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  ADAPTIVE_ACTIVE_DAYS,
  ADAPTIVE_KEEPALIVE_HOURS,
  DISPATCH_MAX_USERS,
  DUE_SHARDS,
  ENV,
  RECALL_SIGNATURE_MODES,
  type RecallSignatureMode,
  type Range,
  REFRESH_INTERVAL_MINUTES,
  REFRESH_POLICIES,
  REFRESH_WINDOW_SECONDS,
  SERVICE_NAME,
  TIMING,
} from '../functions/contract';

/** Regions Recall.ai runs in; each has its own API host. */
export const RECALL_REGIONS = ['us-east-1', 'us-west-2', 'eu-central-1', 'ap-northeast-1'] as const;
export type RecallRegion = (typeof RECALL_REGIONS)[number];

/** Ranges of the settings only the stack reads (the functions never see them). */
/** Reserved concurrency of the dispatcher (the setting kept its name from the single refresher it replaced). */
export const REFRESHER_RESERVED_CONCURRENCY: Range = { min: 0, max: 10, default: 1 };
/** Refresh workers at once: the SQS event source's maximum concurrency, 2 to 1000 in AWS's terms. */
export const REFRESH_WORKER_CONCURRENCY: Range = { min: 2, max: 1000, default: 10 };
// API Gateway's default account limits: 10,000 requests per second, bursts of 5,000.
export const CALLBACK_THROTTLE_RATE: Range = { min: 1, max: 10_000, default: 50 };
export const CALLBACK_THROTTLE_BURST: Range = { min: 1, max: 5_000, default: 100 };
/** How often the Recall credential health check runs (VaultLifecycle), in minutes. */
export const RECALL_HEALTH_INTERVAL_MINUTES: Range = { min: 15, max: 1440, default: 60 };
/** WAF rate-based rules count requests per source IP over 5 minutes; AWS accepts 10 to 2,000,000,000. */
export const CALLBACK_WAF_RATE_LIMIT: Range = { min: 10, max: 2_000_000_000, default: 1000 };

/** A WAF in front of the public callback route (a CloudFront distribution, since WAF cannot attach to an HTTP API). */
export interface CallbackWafOptions {
  /** Requests one source IP may make in any 5 minutes before WAF blocks it. @default 1000 */
  readonly rateLimitPer5Min?: number;
}

/**
 * What an operator may set. Every option is optional; an unset option falls back to the CDK
 * context value of the same name (`cdk deploy -c refreshIntervalMinutes=10`), then to a default.
 */
export interface VaultOptions {
  /**
   * Powertools service name: the `service` of log lines and the metric dimension
   * the alarms watch. Give a second vault in the same account and region its own.
   * @default 'zoom-token-vault'
   */
  readonly serviceName?: string;
  /** Recall.ai region the bots run in. @default 'us-east-1' */
  readonly recallRegion?: RecallRegion;
  /** Overrides the Recall API base URL. @default `https://<recallRegion>.recall.ai` */
  readonly recallApiBaseUrl?: string;
  /** Id of the Zoom OAuth app registered in Recall. @default '' (set it before registering users) */
  readonly recallZoomOAuthAppId?: string;
  /** Zoom OAuth app client id. @default '' */
  readonly zoomClientId?: string;
  /** @default 'https://zoom.us/oauth/token' */
  readonly zoomTokenUrl?: string;
  /** Zoom's REST API, where the bot-token function mints OBF tokens, ZAKs and join tokens. @default 'https://api.zoom.us/v2' */
  readonly zoomApiBaseUrl?: string;
  /** Base of the callback URLs handed to Recall, e.g. a custom domain. @default - the HTTP API's endpoint */
  readonly publicBaseUrl?: string;
  /** How often the dispatcher hands the due users to the refresh workers. @default 5 */
  readonly refreshIntervalMinutes?: number;
  /**
   * Tokens expiring within this many seconds are due for refresh; at least the interval plus
   * 360 s (the callback's 300 s serve margin and a minute for the workers). @default 900
   */
  readonly refreshWindowSeconds?: number;
  /** Number of `due_shard` partitions the due-index is spread over. @default 8 */
  readonly dueShards?: number;
  /** Complete ARN of an existing secret holding the Recall API key. @default - a new secret with a placeholder value */
  readonly recallApiKeySecretArn?: string;
  /** Complete ARN of an existing secret holding the Zoom client secret. @default - a new secret with a placeholder value */
  readonly zoomClientSecretArn?: string;
  /** Where alarm notifications go (a new SNS topic, encrypted, TLS only). @default - no e-mail */
  readonly alarmEmail?: string;
  /**
   * ARN of an existing SNS topic the alarms notify (besides `alarmEmail`'s topic, if any). Its
   * access policy and key policy must let CloudWatch publish to it. @default - none
   */
  readonly alarmTopicArn?: string;
  /**
   * Also alarm on causes, not only on outcomes: every function's Lambda Errors and Throttles,
   * the callback's own 500s, worker errors, lost Zoom answers, Zoom throttling. Each is already
   * caught, a little later and less specifically, by an outcome alarm; they cost $0.10 a month
   * each. @default false
   */
  readonly detailedAlarms?: boolean;
  /** A CloudWatch dashboard of the service ($3 a month beyond an account's first three). @default false */
  readonly dashboard?: boolean;
  /**
   * X-Ray tracing (Powertools Tracer) on every function. X-Ray records 100,000 traces a month for
   * free, then $5 a million; the refresh workers alone run ~10 million times a month per 100,000
   * users, so it is off unless asked for. @default false
   */
  readonly tracing?: boolean;
  /** DynamoDB deletion protection on the token table: off only for throwaway test stacks. @default true */
  readonly deletionProtection?: boolean;
  /**
   * ARN of the customer-managed KMS key the imported secrets (`recallApiKeySecretArn`,
   * `zoomClientSecretArn`, `zoomWebhookSecretArn`) are encrypted with: the functions reading them
   * may then decrypt with it, through Secrets Manager only. @default - the secrets use aws/secretsmanager
   */
  readonly secretsKmsKeyArn?: string;
  /**
   * Key policy denies the token key's data use (Decrypt, GenerateDataKey, Encrypt, ReEncrypt) to
   * every principal but the function roles that seal and open tokens. The account keeps
   * administering the key (it can change this policy), but no one else, the account's
   * administrators included, can decrypt a token. @default false
   */
  readonly restrictKeyToFunctionRoles?: boolean;
  /**
   * CloudFront with a WAF rate-based rule (per source IP) in front of the HTTP API; the callback
   * URLs handed to Recall then use the distribution's domain. The stack must be in us-east-1
   * (CloudFront WAFs live there). Ignored when `publicBaseUrl` is set. @default - none
   */
  readonly callbackWaf?: CallbackWafOptions | boolean;
  /** How often the Recall credential health check runs, 15 to 1440 minutes (VaultLifecycle). @default 60 */
  readonly recallHealthIntervalMinutes?: number;
  /** Zoom's event notifications route `POST /zoom/events` (VaultLifecycle). @default false */
  readonly zoomEventsRoute?: boolean;
  /** Complete ARN of an existing secret holding the Zoom webhook secret token. @default - a new secret with a placeholder value */
  readonly zoomWebhookSecretArn?: string;
  /**
   * Reserved concurrency of the dispatcher, 0 to 10. 1 keeps two dispatcher runs from ever
   * running at once; 0 reserves nothing, for accounts whose concurrency quota is
   * still 10, where any reservation fails to deploy.
   * @default 1
   */
  readonly refresherReservedConcurrency?: number;
  /**
   * Refresh workers running at once (the SQS event source mapping's maximum concurrency,
   * 2 to 1000): the throttle on Zoom, DynamoDB and KMS, and with the interval what one stack
   * keeps fresh (see supportedUsers).
   * @default 10
   */
  readonly refreshWorkerConcurrency?: number;
  /**
   * `proactive`: every access token is kept fresh. `adaptive`: users served within
   * `adaptiveActiveDays` are kept fresh; idle users are refreshed every `adaptiveKeepAliveHours`
   * only, and their next callback waits for a refresh. @default 'proactive'
   */
  readonly refreshPolicy?: 'proactive' | 'adaptive';
  /** Adaptive policy: days a served user stays warm (1–90). @default 7 */
  readonly adaptiveActiveDays?: number;
  /** Adaptive policy: hours between an idle user's keep-alive refreshes (1–720). @default 24 */
  readonly adaptiveKeepAliveHours?: number;
  /**
   * Steady-state requests per second the public callback route `GET /zoom/token` accepts; each
   * bot-token route (`GET /zoom/obf`, `/zoom/zak`, `/zoom/join-token`) has the same limits of its own. @default 50
   */
  readonly callbackThrottleRate?: number;
  /** Burst of requests the public callback route (and each bot-token route) accepts. @default 100 */
  readonly callbackThrottleBurst?: number;
  /**
   * Complete ARN of an existing secret holding Recall's workspace verification secret (`whsec_…`;
   * old and new separated by a space while Recall rotates it): the callback and bot-token routes
   * then check Recall's request signature too (docs/recall-signatures.md). Only the callback and
   * bot-token functions may read it. @default - not checked, unless `recallSignatureMode` is set
   */
  readonly recallVerificationSecretArn?: string;
  /**
   * What a public token request without Recall's valid signature gets: `enforce`, the bad URL's
   * 403; `report`, served as before, logged and counted in RecallSignatureFailures. Set without
   * `recallVerificationSecretArn`, the stack creates a placeholder secret for Recall's value: until
   * it holds one, `enforce` refuses every request (synth warns) and `report` counts every one.
   * @default 'enforce' with recallVerificationSecretArn; else Recall's signature is not checked
   */
  readonly recallSignatureMode?: RecallSignatureMode;
}

/** The options after defaults and validation: what the constructs are built from. */
export interface VaultSettings {
  readonly serviceName: string;
  readonly recallApiBaseUrl: string;
  readonly recallZoomOAuthAppId: string;
  readonly zoomClientId: string;
  readonly zoomTokenUrl: string;
  readonly zoomApiBaseUrl: string;
  /** @default - the HTTP API's endpoint */
  readonly publicBaseUrl?: string;
  readonly refreshIntervalMinutes: number;
  readonly refreshWindowSeconds: number;
  readonly dueShards: number;
  readonly recallApiKeySecretArn?: string;
  readonly zoomClientSecretArn?: string;
  readonly alarmEmail?: string;
  readonly alarmTopicArn?: string;
  readonly detailedAlarms: boolean;
  readonly dashboard: boolean;
  readonly tracing: boolean;
  readonly deletionProtection: boolean;
  readonly secretsKmsKeyArn?: string;
  readonly restrictKeyToFunctionRoles: boolean;
  /** Set when the callback is to sit behind CloudFront and WAF. */
  readonly callbackWaf?: { readonly rateLimitPer5Min: number };
  readonly recallHealthIntervalMinutes: number;
  readonly zoomEventsRoute: boolean;
  readonly zoomWebhookSecretArn?: string;
  readonly refresherReservedConcurrency: number;
  readonly refreshWorkerConcurrency: number;
  readonly refreshPolicy: 'proactive' | 'adaptive';
  readonly adaptiveActiveDays: number;
  readonly adaptiveKeepAliveHours: number;
  readonly callbackThrottleRate: number;
  readonly callbackThrottleBurst: number;
  /** Imported; absent with a mode set: the stack creates a placeholder. */
  readonly recallVerificationSecretArn?: string;
  /** Absent: Recall's signature is not checked (no secret, as before). */
  readonly recallSignatureMode?: RecallSignatureMode;
}

type OptionName = keyof VaultOptions;

/**
 * Resolves the settings once: options win over CDK context (`-c name=value`), context over
 * defaults. Throws on a bad value, so synth fails before anything is built; warns on `scope`
 * about what synthesizes but cannot run yet.
 */
export function resolveVaultSettings(scope: Construct, options: VaultOptions = {}): VaultSettings {
  const read = new OptionReader(scope, options);
  const recallRegion = resolveRecallRegion(read);
  const { refreshIntervalMinutes, refreshWindowSeconds } = resolveRefreshTiming(read);
  const { zoomClientId, recallZoomOAuthAppId } = resolveAppIds(scope, read);
  const settings: VaultSettings = {
    serviceName: read.nonEmpty('serviceName') ?? SERVICE_NAME,
    recallApiBaseUrl: read.url('recallApiBaseUrl') ?? `https://${recallRegion}.recall.ai`,
    recallZoomOAuthAppId,
    zoomClientId,
    zoomTokenUrl: read.url('zoomTokenUrl') ?? 'https://zoom.us/oauth/token',
    zoomApiBaseUrl: read.url('zoomApiBaseUrl') ?? 'https://api.zoom.us/v2',
    publicBaseUrl: read.url('publicBaseUrl'),
    refreshIntervalMinutes,
    refreshWindowSeconds,
    dueShards: read.integer('dueShards', DUE_SHARDS),
    recallApiKeySecretArn: read.secretArn('recallApiKeySecretArn'),
    zoomClientSecretArn: read.secretArn('zoomClientSecretArn'),
    alarmEmail: read.email('alarmEmail'),
    alarmTopicArn: read.arn('alarmTopicArn', 'sns', 'CloudWatch alarms notify topics in their own region only'),
    detailedAlarms: read.boolean('detailedAlarms', false),
    dashboard: read.boolean('dashboard', false),
    tracing: read.boolean('tracing', false),
    deletionProtection: read.boolean('deletionProtection', true),
    secretsKmsKeyArn: read.keyArn('secretsKmsKeyArn'),
    restrictKeyToFunctionRoles: read.boolean('restrictKeyToFunctionRoles', false),
    callbackWaf: resolveCallbackWaf(read),
    recallHealthIntervalMinutes: read.integer('recallHealthIntervalMinutes', RECALL_HEALTH_INTERVAL_MINUTES),
    zoomEventsRoute: read.boolean('zoomEventsRoute', false),
    zoomWebhookSecretArn: read.secretArn('zoomWebhookSecretArn'),
    refresherReservedConcurrency: read.integer('refresherReservedConcurrency', REFRESHER_RESERVED_CONCURRENCY),
    refreshWorkerConcurrency: read.integer('refreshWorkerConcurrency', REFRESH_WORKER_CONCURRENCY),
    refreshPolicy: read.oneOf('refreshPolicy', REFRESH_POLICIES, 'proactive'),
    adaptiveActiveDays: read.integer('adaptiveActiveDays', ADAPTIVE_ACTIVE_DAYS),
    adaptiveKeepAliveHours: read.integer('adaptiveKeepAliveHours', ADAPTIVE_KEEPALIVE_HOURS),
    callbackThrottleRate: read.integer('callbackThrottleRate', CALLBACK_THROTTLE_RATE),
    callbackThrottleBurst: read.integer('callbackThrottleBurst', CALLBACK_THROTTLE_BURST),
    ...resolveRecallSignatures(scope, read),
  };
  warnIgnored(scope, settings);
  return settings;
}

/** Settings that synthesize but change nothing in this combination: said, so nobody relies on them. */
function warnIgnored(scope: Construct, settings: VaultSettings): void {
  const ignored: Array<[string, boolean, string]> = [
    [
      'callbackWaf',
      settings.callbackWaf !== undefined && settings.publicBaseUrl !== undefined,
      'publicBaseUrl is set: the callback URLs use your domain, not CloudFront',
    ],
    ['zoomWebhookSecretArn', settings.zoomWebhookSecretArn !== undefined && !settings.zoomEventsRoute, 'zoomEventsRoute is off'],
    [
      'secretsKmsKeyArn',
      settings.secretsKmsKeyArn !== undefined &&
        [
          settings.recallApiKeySecretArn,
          settings.zoomClientSecretArn,
          settings.zoomWebhookSecretArn,
          settings.recallVerificationSecretArn,
        ].every((arn) => arn === undefined),
      'no secret is imported (the secrets the stack creates use aws/secretsmanager)',
    ],
  ];
  for (const [name, isIgnored, why] of ignored) {
    if (isIgnored) Annotations.of(scope).addWarningV2(`zoom-token-vault:${name}`, `${name} is ignored: ${why}.`);
  }
}

/** Reads one option as text (option, then context), and parses it. */
class OptionReader {
  constructor(
    private readonly scope: Construct,
    readonly options: VaultOptions,
  ) {}

  /** The trimmed value, '' included; undefined when neither option nor context sets it. */
  text(name: OptionName): string | undefined {
    const value = this.options[name] ?? this.scope.node.tryGetContext(name);
    if (value === undefined || value === null) return undefined;
    return String(value).trim();
  }

  nonEmpty(name: OptionName): string | undefined {
    return this.text(name) || undefined;
  }

  integer(name: OptionName, range: Range): number {
    const raw = this.nonEmpty(name);
    if (raw === undefined) return range.default;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < range.min || value > range.max) {
      throw new Error(`${name} must be an integer from ${range.min} to ${range.max}, got '${raw}'`);
    }
    return value;
  }

  /** true/false (a boolean option, or the strings from `-c name=true`). */
  /** One of `allowed`; fails synth naming them otherwise. */
  oneOf<T extends string>(name: OptionName, allowed: readonly T[], fallback: T): T {
    const raw = this.nonEmpty(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
    return raw as T;
  }

  boolean(name: OptionName, fallback: boolean): boolean {
    const raw = this.nonEmpty(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    throw new Error(`${name} must be true or false, got '${raw}'`);
  }

  /**
   * The ARN of a resource of `service` (arn:<partition>:<service>:<region>:<account>:…), in the
   * stack's own region when `sameRegion` says why it must be.
   */
  arn(name: OptionName, service: string, sameRegion?: string): string | undefined {
    const raw = this.nonEmpty(name);
    if (raw === undefined) return undefined;
    const region = new RegExp(`^arn:aws[a-z-]*:${service}:([a-z0-9-]+):\\d{12}:\\S+$`).exec(raw)?.[1];
    if (!region) throw new Error(`${name} must be the ARN of a ${service} resource, got '${raw}'`);
    const stackRegion = this.stackRegion();
    if (sameRegion && stackRegion && region !== stackRegion) {
      throw new Error(`${name} must be in the stack's region ${stackRegion} (${sameRegion}), got '${raw}'`);
    }
    return raw;
  }

  /**
   * The complete ARN of a secret (with the 6-character suffix Secrets Manager adds): a partial
   * ARN or a name matches no secret in an IAM policy, so the function could never read it.
   */
  secretArn(name: OptionName): string | undefined {
    const raw = this.arn(name, 'secretsmanager', 'the functions read it in their own region');
    if (raw !== undefined && !/:secret:[^:]+-[A-Za-z0-9]{6}$/.test(raw)) {
      throw new Error(
        `${name} must be the complete ARN of a secret, ending in the 6-character suffix Secrets Manager adds (…:secret:name-AbCdEf), got '${raw}'`,
      );
    }
    return raw;
  }

  /** The ARN of a KMS key itself (key/…): IAM grants kms:Decrypt on keys, never on aliases. */
  keyArn(name: OptionName): string | undefined {
    const raw = this.arn(name, 'kms', "a secret's key is in the secret's region");
    if (raw !== undefined && !/:key\/[A-Za-z0-9-]+$/.test(raw)) {
      throw new Error(`${name} must be the ARN of a KMS key (…:key/<key id>), not an alias, got '${raw}'`);
    }
    return raw;
  }

  /** An e-mail address (SNS refuses a subscription to anything else at deploy). */
  email(name: OptionName): string | undefined {
    const raw = this.nonEmpty(name);
    if (raw !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)) throw new Error(`${name} must be an e-mail address, got '${raw}'`);
    return raw;
  }

  /** The region of the stack being configured, when known (not for an environment-agnostic stack). */
  private stackRegion(): string | undefined {
    const stack = this.scope.node.scopes.find((scope): scope is Stack => Stack.isStack(scope));
    return stack && !Token.isUnresolved(stack.region) ? stack.region : undefined;
  }

  /** An https:// URL without trailing slashes. */
  url(name: OptionName): string | undefined {
    const raw = this.nonEmpty(name);
    if (raw === undefined) return undefined;
    if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(raw)) {
      throw new Error(`${name} must be an https:// URL, got '${raw}'`);
    }
    return raw.replace(/\/+$/, '');
  }
}

/**
 * Recall's request signature: checked once a secret is imported (enforce by default) or a mode is
 * set (then on a placeholder secret the operator fills in). Enforcing on a placeholder refuses
 * every token request until Recall's value is in it: allowed (nobody is left unprotected while
 * believing otherwise), but said at synth, with the way round it.
 */
function resolveRecallSignatures(scope: Construct, read: OptionReader) {
  const recallVerificationSecretArn = read.secretArn('recallVerificationSecretArn');
  const explicit = read.nonEmpty('recallSignatureMode') && read.oneOf('recallSignatureMode', RECALL_SIGNATURE_MODES, 'enforce');
  const recallSignatureMode = explicit || (recallVerificationSecretArn ? 'enforce' : undefined);
  if (recallSignatureMode === 'enforce' && !recallVerificationSecretArn) {
    Annotations.of(scope).addWarningV2(
      'zoom-token-vault:recallSignatureMode',
      'recallSignatureMode is enforce and no recallVerificationSecretArn is given: the stack creates a placeholder secret, and ' +
        "every callback and bot-token request is refused (403) until it holds Recall's whsec_… verification secret. Deploy with " +
        '-c recallSignatureMode=report first, put the secret (output RecallVerificationSecretArn), and enforce once ' +
        'RecallSignatureFailures stays at zero (docs/recall-signatures.md).',
    );
  }
  return { recallVerificationSecretArn, recallSignatureMode };
}

function resolveRecallRegion(read: OptionReader): RecallRegion {
  const recallRegion = read.nonEmpty('recallRegion') ?? 'us-east-1';
  if (!(RECALL_REGIONS as readonly string[]).includes(recallRegion)) {
    throw new Error(`recallRegion must be one of ${RECALL_REGIONS.join(', ')}, got '${recallRegion}'`);
  }
  return recallRegion as RecallRegion;
}

/**
 * `callbackWaf`: an object (props), `true`, or from context a number (the rate limit) or 'true'.
 * Absent, false or 'false': no WAF.
 */
function resolveCallbackWaf(read: OptionReader): { rateLimitPer5Min: number } | undefined {
  const option = read.options.callbackWaf;
  if (option === false) return undefined;
  if (typeof option === 'object' && option !== null) {
    return { rateLimitPer5Min: checkedInteger('callbackWaf.rateLimitPer5Min', option.rateLimitPer5Min, CALLBACK_WAF_RATE_LIMIT) };
  }
  const raw = option === true ? 'true' : read.nonEmpty('callbackWaf');
  if (raw === undefined || raw === 'false') return undefined;
  if (raw === 'true') return { rateLimitPer5Min: CALLBACK_WAF_RATE_LIMIT.default };
  return { rateLimitPer5Min: checkedInteger('callbackWaf', raw, CALLBACK_WAF_RATE_LIMIT) };
}

function checkedInteger(name: string, raw: unknown, range: Range): number {
  if (raw === undefined) return range.default;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new Error(`${name} must be an integer from ${range.min} to ${range.max}, got '${String(raw)}'`);
  }
  return value;
}

/** A token must be dispatched and refreshed with at least this much life left (seconds): the callback's serve margin plus a minute for the workers. */
export function unrefreshedLifeLimitSeconds(): number {
  return TIMING.serveMarginMs / 1000 + 60;
}

function resolveRefreshTiming(read: OptionReader) {
  // The functions' own ranges (they refuse to start outside them).
  const refreshWindowSeconds = read.integer('refreshWindowSeconds', REFRESH_WINDOW_SECONDS);
  const refreshIntervalMinutes = read.integer('refreshIntervalMinutes', REFRESH_INTERVAL_MINUTES);
  // A token becomes due at most one interval before the dispatcher sees it; by then it must still
  // have the serve margin and a minute for the workers left, or it reaches the callback
  // unrefreshed (and the OldestDueAgeSeconds alarm, whose threshold is that same limit, would
  // fire on a healthy schedule).
  const limit = unrefreshedLifeLimitSeconds();
  if (refreshWindowSeconds < refreshIntervalMinutes * 60 + limit) {
    throw new Error(
      `refreshWindowSeconds (${refreshWindowSeconds}) must be at least the refresh interval (${refreshIntervalMinutes} min) ` +
        `plus ${limit} s (the callback's ${TIMING.serveMarginMs / 1000} s serve margin and a minute for the refresh workers), ` +
        'or tokens reach the callback unrefreshed',
    );
  }
  return { refreshIntervalMinutes, refreshWindowSeconds };
}

/** Messages per refresh-worker invocation: the SQS event source's batch size (SendMessageBatch's ten too). */
export const WORKER_BATCH_SIZE = 10;
/**
 * What one worker invocation (a batch of WORKER_BATCH_SIZE users, refreshed concurrently) is
 * assumed to take, in seconds: Zoom's answer at ~300 ms, the lease write, KMS and the save, with
 * room for a slower answer now and then. A sizing assumption, not a limit anything enforces.
 */
export const WORKER_BATCH_SECONDS = 3;
/** Zoom's access tokens live an hour: a refreshed user is due again this long minus the window later. */
export const ZOOM_ACCESS_TOKEN_LIFETIME_SECONDS = 3600;

const clamp = (value: number, range: Range) => Math.min(range.max, Math.max(range.min, value));

/**
 * DISPATCH_MAX_USERS: what one dispatcher run hands out at most, i.e. what the workers refresh
 * before the next run:
 *
 *   refreshWorkerConcurrency × WORKER_BATCH_SIZE × intervalSeconds / WORKER_BATCH_SECONDS
 *
 * (defaults: 10 × 10 × 300 / 3 = 10,000), clamped to the contract's range. Handing out more
 * would only pile messages up in the queue, where they age unseen; what is held back stays in
 * the due index, is counted as Deferred and goes first in the next run (most overdue first).
 */
export function dispatchMaxUsers(settings: Pick<VaultSettings, 'refreshWorkerConcurrency' | 'refreshIntervalMinutes'>): number {
  const perInterval = (settings.refreshWorkerConcurrency * WORKER_BATCH_SIZE * settings.refreshIntervalMinutes * 60) / WORKER_BATCH_SECONDS;
  return clamp(Math.floor(perInterval), DISPATCH_MAX_USERS);
}

/**
 * Users one stack keeps fresh in steady state, with their expiries spread over time.
 *
 * A user refreshed at time t gets a token expiring at t + 3600 s, which is due again at
 * t + 3600 − refreshWindowSeconds and handed out by the next dispatcher run after that. So each
 * user costs one refresh every (3600 − window) seconds at most (a little less often in practice,
 * up to one interval later). The dispatcher hands out dispatchMaxUsers per interval, so:
 *
 *   users = dispatchMaxUsers × (3600 − refreshWindowSeconds) / (refreshIntervalMinutes × 60)
 *
 * Defaults: 10,000 × (3600 − 900) / 300 = 90,000 users (≈ 33 refreshes a second). The interval
 * cancels out unless DISPATCH_MAX_USERS is clamped: it is workers × 10 / 3 s × (3600 − window).
 * A wider window costs capacity (tokens are refreshed younger). A burst of users all due at once
 * (a mass registration) is worked off at dispatchMaxUsers per interval, most overdue first, and
 * spreads out by itself afterwards; each of them has window − 360 s to be refreshed in before
 * the OldestDueAgeSeconds alarm fires, i.e. about dispatchMaxUsers × (window − 360) / interval
 * users at once (18,000 with defaults). Above these, raise refreshWorkerConcurrency (within
 * Zoom's rate limits and the account's Lambda concurrency).
 */
export function supportedUsers(
  settings: Pick<VaultSettings, 'refreshWorkerConcurrency' | 'refreshIntervalMinutes' | 'refreshWindowSeconds'>,
): number {
  const intervalSeconds = settings.refreshIntervalMinutes * 60;
  return Math.floor((dispatchMaxUsers(settings) * (ZOOM_ACCESS_TOKEN_LIFETIME_SECONDS - settings.refreshWindowSeconds)) / intervalSeconds);
}

/** Recall's ids are UUIDs. */
const RECALL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Zoom client ids are URL-safe characters; anything else (a colon, a space) breaks the Basic auth of every refresh. */
const ZOOM_CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * Both synthesize empty so the stack can be inspected (with a warning naming the functions that
 * fail at cold start without them), but a value that cannot be an id fails synth.
 */
function resolveAppIds(scope: Construct, read: OptionReader) {
  const howToSet =
    'Set both with `cdk deploy -c zoomClientId=<Zoom OAuth app client id> ' +
    '-c recallZoomOAuthAppId=<id of that Zoom OAuth app in Recall>` (or the stack props of the same names).';
  const zoomClientId = read.text('zoomClientId') ?? '';
  if (!zoomClientId) {
    Annotations.of(scope).addWarningV2(
      'zoom-token-vault:zoomClientId',
      `zoomClientId is not set, so ${ENV.zoomClientId} is empty: the refresh-worker function fails at cold start until it is ` +
        "(no token is refreshed), and the Zoom events function cannot tell another Zoom app's deauthorizations from ours. " +
        howToSet,
    );
  } else if (!ZOOM_CLIENT_ID.test(zoomClientId)) {
    throw new Error(`zoomClientId must be the Zoom OAuth app's client id (letters, digits, '.', '_', '~', '-'), got '${zoomClientId}'`);
  }
  const recallZoomOAuthAppId = read.text('recallZoomOAuthAppId') ?? '';
  if (!recallZoomOAuthAppId) {
    Annotations.of(scope).addWarningV2(
      'zoom-token-vault:recallZoomOAuthAppId',
      `recallZoomOAuthAppId is not set, so ${ENV.recallZoomOAuthAppId} is empty: the admin and Recall health check functions fail at ` +
        `cold start until it is. ${howToSet}`,
    );
  } else if (!RECALL_ID.test(recallZoomOAuthAppId)) {
    throw new Error(
      `recallZoomOAuthAppId must be the id Recall gave your Zoom OAuth app (a UUID, e.g. 6f1c5a2e-1111-4a4a-9b9b-0123456789ab), got '${recallZoomOAuthAppId}'`,
    );
  }
  return { zoomClientId, recallZoomOAuthAppId };
}
