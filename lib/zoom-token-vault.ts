import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ADMIN_ROUTE_KEYS, type AdminRouteKey, CALLBACK_PATH, ENV, FUNCTION_TIMEOUT_SECONDS } from '../functions/contract';
import { VaultApi } from './api';
import { CallbackEdge } from './callback-edge';
import { VaultLifecycle } from './lifecycle';
import { VaultObservability } from './observability';
import { RefreshFanOut } from './refresh-fan-out';
import { VaultSecrets } from './secrets';
import type { VaultSettings } from './settings';
import { TokenStorage } from './storage';
import { TokenFunction } from './token-function';
import { acknowledge } from './nag';

export { resolveVaultSettings } from './settings';
export type { VaultOptions, VaultSettings } from './settings';
export { VaultLifecycle } from './lifecycle';

export interface ZoomTokenVaultProps {
  /** Resolved and validated settings: `resolveVaultSettings(this, { zoomClientId: …, … })`. */
  readonly settings: VaultSettings;
  /**
   * Alias of the envelope key; aliases are unique per account and region.
   * @default `alias/<stack name>/zoom-tokens` (give a second vault in the same stack its own)
   */
  readonly keyAlias?: string;
  /**
   * Where the lifecycle events go: the account's default bus, a new bus of the vault's own, or
   * a bus you pass (the functions get events:PutEvents on that bus only). @default 'default'
   */
  readonly eventBus?: 'default' | 'create' | IEventBus;
}

/**
 * The whole Zoom token vault: the encrypted token store, its secrets, the callback and admin
 * functions, the refresh fan-out (dispatcher, queue, workers), the HTTP API and the alarms. Add it to any stack; ZoomTokenStack is
 * nothing but this construct and its outputs.
 */
export class ZoomTokenVault extends Construct {
  readonly storage: TokenStorage;
  readonly secrets: VaultSecrets;
  readonly callbackFunction: TokenFunction;
  /** Mints OBF tokens, ZAKs and join tokens for the signed bot-token URLs Recall's bots call. */
  readonly botTokenFunction: TokenFunction;
  readonly adminFunction: TokenFunction;
  /** The refresh queue, its dead-letter queue, the dispatcher, the refresh workers and their schedule. */
  readonly refresh: RefreshFanOut;
  readonly api: VaultApi;
  /** Base of the signed callback URLs handed to Recall: the custom domain if given, else the API's endpoint. */
  readonly publicBaseUrl: string;
  /** Where alarm state changes go; only when `alarmEmail` is set. */
  readonly alarmTopic?: ITopic;
  /** The alarms, their topics and (with `dashboard`) the dashboard. */
  readonly observability: VaultObservability;
  /** CloudFront and WAF in front of the public routes; only with `callbackWaf`. */
  readonly callbackEdge?: CallbackEdge;
  /** Lifecycle events, the Recall health check and Zoom's event route. */
  readonly lifecycle: VaultLifecycle;

  constructor(scope: Construct, id: string, props: ZoomTokenVaultProps) {
    super(scope, id);
    const { settings } = props;
    this.storage = new TokenStorage(this, 'Storage', {
      dueShards: settings.dueShards,
      keyAlias: props.keyAlias,
      deletionProtection: settings.deletionProtection,
    });
    this.secrets = new VaultSecrets(this, 'Secrets', settings);
    const policyEnvironment = refreshPolicyEnvironmentOf(settings);
    this.refresh = this.createRefreshFanOut(settings, { ...zoomAppEnvironmentOf(settings, this.secrets), ...policyEnvironment });
    const servingEnvironment = {
      ...this.storage.environment,
      ...policyEnvironment,
      [ENV.signingKeysSecretId]: this.secrets.signingKeys.secretArn,
      [ENV.refreshQueueUrl]: this.refresh.queue.queueUrl,
    };
    this.callbackFunction = this.createCallbackFunction(settings, servingEnvironment);
    this.botTokenFunction = this.createBotTokenFunction(settings);
    this.adminFunction = this.createAdminFunction(settings, servingEnvironment);

    this.api = this.createApi(settings);
    this.callbackEdge = this.createCallbackEdge(settings);
    // Known only now that the API (and the distribution in front of it) exists.
    this.publicBaseUrl = settings.publicBaseUrl ?? this.callbackEdge?.publicBaseUrl ?? this.api.apiEndpoint;
    this.adminFunction.addEnvironment(ENV.publicBaseUrl, this.publicBaseUrl);

    if (settings.restrictKeyToFunctionRoles) {
      // The functions that open or seal tokens; the dispatcher never does.
      const openers = [this.callbackFunction, this.botTokenFunction, this.adminFunction, this.refreshWorkerFunction];
      this.storage.restrictKeyUseTo(openers.map((fn) => fn.role!));
    }

    this.observability = this.createObservability(settings);
    this.alarmTopic = this.observability.alarmTopic;
    this.lifecycle = this.createLifecycle(props);
    this.lifecycle.grantPublish(this.adminFunction, this.refreshWorkerFunction);
  }

  /** The scheduled function that hands due users to the refresh workers. */
  get dispatcherFunction(): TokenFunction {
    return this.refresh.dispatcherFunction;
  }

  /** The function the refresh queue's messages are delivered to. */
  get refreshWorkerFunction(): TokenFunction {
    return this.refresh.workerFunction;
  }

  get table(): ITable {
    return this.storage.table;
  }

  /** The envelope key of the stored tokens. */
  get key(): IKey {
    return this.storage.key;
  }

  /** Base URL of the HTTP API. */
  get apiEndpoint(): string {
    return this.api.apiEndpoint;
  }

  /** Signed callback URLs handed to Recall start with this. */
  get callbackUrlBase(): string {
    return `${this.publicBaseUrl}${CALLBACK_PATH}`;
  }

  /**
   * Lets `grantee` (your backend) call the IAM-authorized admin API: every admin route, or only
   * `routes` (e.g. a backend that registers users but never reads tokens:
   * `['PUT /users/{userId}/zoom-credential']`).
   */
  grantInvokeAdminApi(grantee: IGrantable, routes?: readonly AdminRouteKey[]): Grant {
    const resourceArns = routes ? routes.map((route) => this.api.adminRouteArn(route)) : [this.api.adminRoutesArn];
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
  }

  /** Every admin route's invoke ARN (what to grant for that route alone), by route key. */
  get adminRouteArns(): Record<AdminRouteKey, string> {
    return Object.fromEntries(ADMIN_ROUTE_KEYS.map((route) => [route, this.api.adminRouteArn(route)])) as Record<AdminRouteKey, string>;
  }

  private createRefreshFanOut(settings: VaultSettings, zoomEnvironment: Record<string, string>): RefreshFanOut {
    return new RefreshFanOut(this, 'Refresh', {
      serviceName: settings.serviceName,
      storage: this.storage,
      secrets: this.secrets,
      tracing: settings.tracing,
      zoomEnvironment,
      refreshIntervalMinutes: settings.refreshIntervalMinutes,
      refreshWindowSeconds: settings.refreshWindowSeconds,
      reservedConcurrency: settings.refresherReservedConcurrency,
      workerConcurrency: settings.refreshWorkerConcurrency,
    });
  }

  private createApi(settings: VaultSettings): VaultApi {
    return new VaultApi(this, 'Api', {
      serviceName: settings.serviceName,
      callbackFunction: this.callbackFunction,
      botTokenFunction: this.botTokenFunction,
      adminFunction: this.adminFunction,
      callbackThrottle: { rateLimit: settings.callbackThrottleRate, burstLimit: settings.callbackThrottleBurst },
    });
  }

  private createLifecycle(props: ZoomTokenVaultProps): VaultLifecycle {
    return new VaultLifecycle(this, 'Lifecycle', {
      settings: props.settings,
      storage: this.storage,
      secrets: this.secrets,
      api: this.api,
      observability: this.observability,
      eventBus: props.eventBus,
    });
  }

  /** CloudFront and WAF in front of the public routes: with `callbackWaf`, unless a custom domain fronts the API. */
  private createCallbackEdge(settings: VaultSettings): CallbackEdge | undefined {
    if (!settings.callbackWaf || settings.publicBaseUrl) return undefined;
    return new CallbackEdge(this, 'CallbackEdge', {
      api: this.api,
      serviceName: settings.serviceName,
      rateLimitPer5Min: settings.callbackWaf.rateLimitPer5Min,
    });
  }

  private createObservability(settings: VaultSettings): VaultObservability {
    return new VaultObservability(this, 'Observability', {
      serviceName: settings.serviceName,
      alarmEmail: settings.alarmEmail,
      alarmTopicArn: settings.alarmTopicArn,
      detailedAlarms: settings.detailedAlarms,
      dashboard: settings.dashboard,
      refreshIntervalMinutes: settings.refreshIntervalMinutes,
      refreshWindowSeconds: settings.refreshWindowSeconds,
      functions: {
        callback: this.callbackFunction,
        botToken: this.botTokenFunction,
        admin: this.adminFunction,
        dispatcher: this.dispatcherFunction,
        refreshWorker: this.refreshWorkerFunction,
      },
      api: this.api,
      refreshDeadLetterQueue: this.refresh.deadLetterQueue,
      recallSignatures: settings.recallSignatureMode !== undefined,
    });
  }

  // Recall stops waiting for the answer after 5 s. The callback never waits on Zoom: a token
  // close to expiry is handed to the refresh workers, and below the serve floor the answer polls
  // the table for their result within its 4 s budget. 1024 MB buys a faster cold start.
  private createCallbackFunction(settings: VaultSettings, environment: Record<string, string>): TokenFunction {
    const fn = new TokenFunction(this, 'CallbackFunction', {
      serviceName: settings.serviceName,
      entry: 'callback',
      description: 'Returns a Zoom access token to Recall.ai for a signed callback URL',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.callback),
      memorySize: 1024,
      environment: { ...environment, ...recallSignatureEnvironmentOf(settings, this.secrets) },
      tracing: settings.tracing,
    });
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      'Invoked synchronously by the HTTP API only; a dead-letter queue applies to asynchronous invocations.',
    );
    this.storage.grantServe(fn);
    this.secrets.grantRead(fn, ...this.tokenRouteSecrets());
    this.refresh.grantRequestRefresh(fn);
    return fn;
  }

  /** What the public token routes check requests with: the URL signing keys, and Recall's verification secret when configured. */
  private tokenRouteSecrets(): ISecret[] {
    const { signingKeys, recallVerificationSecret } = this.secrets;
    return recallVerificationSecret ? [signingKeys, recallVerificationSecret] : [signingKeys];
  }

  /**
   * Its own function, with the least privilege serving needs (read the record, decrypt, the
   * signing keys, the refresh queue) and only the settings it reads: no Zoom client id or secret,
   * since only the refresh workers spend refresh tokens. Answers within the callback's budget;
   * its own bundle keeps the callback's small.
   */
  private createBotTokenFunction(settings: VaultSettings): TokenFunction {
    const fn = new TokenFunction(this, 'BotTokenFunction', {
      serviceName: settings.serviceName,
      entry: 'bot-token',
      description: "Mints Zoom OBF tokens, ZAKs and join tokens for Recall.ai's bots from signed URLs",
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.botToken),
      memorySize: 1024,
      tracing: settings.tracing,
      environment: {
        ...this.storage.environment,
        ...refreshPolicyEnvironmentOf(settings),
        [ENV.signingKeysSecretId]: this.secrets.signingKeys.secretArn,
        [ENV.refreshQueueUrl]: this.refresh.queue.queueUrl,
        [ENV.zoomApiBaseUrl]: settings.zoomApiBaseUrl,
        ...recallSignatureEnvironmentOf(settings, this.secrets),
      },
    });
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      'Invoked synchronously by the HTTP API only; a dead-letter queue applies to asynchronous invocations.',
    );
    this.storage.grantMintBotTokens(fn);
    this.secrets.grantRead(fn, ...this.tokenRouteSecrets());
    this.refresh.grantRequestRefresh(fn);
    return fn;
  }

  private createAdminFunction(settings: VaultSettings, environment: Record<string, string>): TokenFunction {
    const fn = new TokenFunction(this, 'AdminFunction', {
      serviceName: settings.serviceName,
      entry: 'admin',
      description: "IAM-authorized API for storing, reading and deleting users' Zoom credentials",
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.admin), // the HTTP API's integration timeout
      memorySize: 512,
      tracing: settings.tracing,
      environment: {
        ...environment,
        [ENV.recallApiBaseUrl]: settings.recallApiBaseUrl,
        [ENV.recallApiKeySecretId]: this.secrets.recallApiKey.secretArn,
        [ENV.recallZoomOAuthAppId]: settings.recallZoomOAuthAppId,
      },
    });
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      'Invoked synchronously by the HTTP API only; a dead-letter queue applies to asynchronous invocations.',
    );
    this.storage.grantRegister(fn);
    // Not the Zoom client secret: the admin function never refreshes (the workers do).
    this.secrets.grantRead(fn, this.secrets.signingKeys, this.secrets.recallApiKey);
    this.refresh.grantRequestRefresh(fn);
    return fn;
  }
}

/**
 * Only the refresh workers call Zoom: they alone get the Zoom app's settings and may read its
 * secret (and fail at cold start without a client id).
 */
function zoomAppEnvironmentOf(settings: VaultSettings, secrets: VaultSecrets): Record<string, string> {
  return {
    [ENV.zoomClientId]: settings.zoomClientId,
    [ENV.zoomClientSecretSecretId]: secrets.zoomClientSecret.secretArn,
    [ENV.zoomTokenUrl]: settings.zoomTokenUrl,
  };
}

/** Recall's request signature: only the functions that serve tokens get the secret's id (and may read it) and the mode. */
function recallSignatureEnvironmentOf(settings: VaultSettings, secrets: VaultSecrets): Record<string, string> {
  if (!settings.recallSignatureMode || !secrets.recallVerificationSecret) return {};
  return {
    [ENV.recallVerificationSecretSecretId]: secrets.recallVerificationSecret.secretArn,
    [ENV.recallSignatureMode]: settings.recallSignatureMode,
  };
}

/** The refresh policy: read by the functions that serve tokens and by those that refresh them. */
function refreshPolicyEnvironmentOf(settings: VaultSettings): Record<string, string> {
  return {
    [ENV.refreshPolicy]: settings.refreshPolicy,
    ...(settings.refreshPolicy === 'adaptive'
      ? {
          [ENV.adaptiveActiveDays]: String(settings.adaptiveActiveDays),
          [ENV.adaptiveKeepAliveHours]: String(settings.adaptiveKeepAliveHours),
        }
      : {}),
  };
}
