import { Duration } from 'aws-cdk-lib';
import { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import { IKey } from 'aws-cdk-lib/aws-kms';
import { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CALLBACK_PATH, ENV, FUNCTION_TIMEOUT_SECONDS } from '../functions/contract';
import { VaultApi } from './api';
import { VaultObservability } from './observability';
import { RefreshFanOut } from './refresh-fan-out';
import { grantReadSecrets, VaultSecrets } from './secrets';
import { VaultSettings } from './settings';
import { TokenStorage } from './storage';
import { TokenFunction } from './token-function';

export { resolveVaultSettings } from './settings';
export type { VaultOptions, VaultSettings } from './settings';

export interface ZoomTokenVaultProps {
  /** Resolved and validated settings: `resolveVaultSettings(this, { zoomClientId: …, … })`. */
  readonly settings: VaultSettings;
  /**
   * Alias of the envelope key; aliases are unique per account and region.
   * @default `alias/<stack name>/zoom-tokens` (give a second vault in the same stack its own)
   */
  readonly keyAlias?: string;
}

/**
 * The whole Zoom token vault: the encrypted token store, its secrets, the callback, admin and
 * refresher functions, the HTTP API and the alarms. Add it to any stack; ZoomTokenStack is
 * nothing but this construct and its outputs.
 */
export class ZoomTokenVault extends Construct {
  readonly storage: TokenStorage;
  readonly secrets: VaultSecrets;
  readonly callbackFunction: TokenFunction;
  readonly adminFunction: TokenFunction;
  readonly refresherFunction: TokenFunction;
  readonly api: VaultApi;
  /** Base of the signed callback URLs handed to Recall: the custom domain if given, else the API's endpoint. */
  readonly publicBaseUrl: string;
  /** Where alarm state changes go; only when `alarmEmail` is set. */
  readonly alarmTopic?: ITopic;

  constructor(scope: Construct, id: string, props: ZoomTokenVaultProps) {
    super(scope, id);
    const { settings } = props;
    this.storage = new TokenStorage(this, 'Storage', { dueShards: settings.dueShards, keyAlias: props.keyAlias });
    this.secrets = new VaultSecrets(this, 'Secrets', settings);
    const sharedEnvironment = {
      ...this.storage.environment,
      [ENV.zoomClientId]: settings.zoomClientId,
      [ENV.zoomClientSecretSecretId]: this.secrets.zoomClientSecret.secretArn,
      [ENV.zoomTokenUrl]: settings.zoomTokenUrl,
    };
    this.callbackFunction = this.createCallbackFunction(settings, sharedEnvironment);
    this.adminFunction = this.createAdminFunction(settings, sharedEnvironment);
    this.refresherFunction = new RefreshFanOut(this, 'Refresh', {
      serviceName: settings.serviceName,
      storage: this.storage,
      zoomClientSecret: this.secrets.zoomClientSecret,
      environment: sharedEnvironment,
      refreshIntervalMinutes: settings.refreshIntervalMinutes,
      refreshWindowSeconds: settings.refreshWindowSeconds,
      reservedConcurrency: settings.refresherReservedConcurrency,
    }).refresherFunction;

    this.api = new VaultApi(this, 'Api', {
      callbackFunction: this.callbackFunction,
      adminFunction: this.adminFunction,
      callbackThrottle: { rateLimit: settings.callbackThrottleRate, burstLimit: settings.callbackThrottleBurst },
    });
    // Known only now that the API exists.
    this.publicBaseUrl = settings.publicBaseUrl ?? this.api.apiEndpoint;
    this.adminFunction.addEnvironment(ENV.publicBaseUrl, this.publicBaseUrl);

    this.alarmTopic = new VaultObservability(this, 'Observability', {
      serviceName: settings.serviceName,
      alarmEmail: settings.alarmEmail,
      callbackFunction: this.callbackFunction,
      refresherFunction: this.refresherFunction,
    }).alarmTopic;
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

  /** Lets `grantee` (the backend that registers users) call the IAM-authorized admin API. */
  grantInvokeAdminApi(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: [this.api.adminRoutesArn] });
  }

  // Recall stops waiting for the answer after 5 s, but a token refreshed inline
  // must still be stored after that, or the user's new refresh token is lost: the
  // timeout leaves room for that, and the handler computes its own deadlines
  // (answer Recall, finish storing) from the remaining time. 1024 MB buys a faster cold start.
  private createCallbackFunction(settings: VaultSettings, sharedEnvironment: Record<string, string>): TokenFunction {
    const fn = new TokenFunction(this, 'CallbackFunction', {
      serviceName: settings.serviceName,
      entry: 'callback',
      description: 'Returns a Zoom access token to Recall.ai for a signed callback URL',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.callback),
      memorySize: 1024,
      environment: {
        ...sharedEnvironment,
        [ENV.signingKeysSecretId]: this.secrets.signingKeys.secretArn,
      },
    });
    this.storage.grantServe(fn);
    grantReadSecrets(fn, this.secrets.signingKeys, this.secrets.zoomClientSecret);
    return fn;
  }

  private createAdminFunction(settings: VaultSettings, sharedEnvironment: Record<string, string>): TokenFunction {
    const fn = new TokenFunction(this, 'AdminFunction', {
      serviceName: settings.serviceName,
      entry: 'admin',
      description: 'IAM-authorized API for storing, reading and deleting users\' Zoom credentials',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.admin), // the HTTP API's integration timeout
      memorySize: 512,
      environment: {
        ...sharedEnvironment,
        [ENV.signingKeysSecretId]: this.secrets.signingKeys.secretArn,
        [ENV.recallApiBaseUrl]: settings.recallApiBaseUrl,
        [ENV.recallApiKeySecretId]: this.secrets.recallApiKey.secretArn,
        [ENV.recallZoomOAuthAppId]: settings.recallZoomOAuthAppId,
      },
    });
    this.storage.grantRegister(fn);
    grantReadSecrets(fn, this.secrets.signingKeys, this.secrets.recallApiKey, this.secrets.zoomClientSecret);
    return fn;
  }
}
