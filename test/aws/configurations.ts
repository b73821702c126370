/**
 * The configurations the AWS contract is checked in: the defaults, and every option on at once.
 * Synthesized with real bundling (test/aws/synth.ts, run once per `jest` by the global setup).
 * Plain data: the workers read it without loading the CDK.
 */
import { DEFAULT_FAKE_ZOOM_CLIENT_ID } from '../../local/fakes/fake-zoom';
import type { VaultOptions } from '../../lib/settings';
import type { ZoomTokenVaultProps } from '../../lib/zoom-token-vault';
import { FAKE_ACCOUNT, FAKE_REGION } from './iam-requests';

export const STACK_NAME = 'ContractVault';
/** A Recall OAuth app id (Recall's ids are UUIDs). */
export const CONTRACT_OAUTH_APP_ID = '6f1c5a2e-1111-4a4a-9b9b-0123456789ab';

const secretArn = (name: string) => `arn:aws:secretsmanager:${FAKE_REGION}:${FAKE_ACCOUNT}:secret:${name}-Ab12Cd`;

/** The customer-managed key the imported secrets are under, in the configuration with every option. */
const SECRETS_KEY_ARN = `arn:aws:kms:${FAKE_REGION}:${FAKE_ACCOUNT}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`;
const IMPORTED_SECRETS = {
  recallApiKeySecretArn: secretArn('imported/recall-api-key'),
  zoomClientSecretArn: secretArn('imported/zoom-client-secret'),
  zoomWebhookSecretArn: secretArn('imported/zoom-webhook-secret'),
  // Recall's request signature then checked (enforce, the default with a secret) by the callback and bot-token functions.
  recallVerificationSecretArn: secretArn('imported/recall-verification-secret'),
};

export interface Configuration {
  name: string;
  /** Directory name in the synthesized output. */
  slug: string;
  options: VaultOptions;
  eventBus?: ZoomTokenVaultProps['eventBus'];
  /** Imported secrets under a customer-managed key: what the template cannot show. */
  importedSecretsKey?: { keyArn: string; secretArns: string[] };
}

const REQUIRED: VaultOptions = { zoomClientId: DEFAULT_FAKE_ZOOM_CLIENT_ID, recallZoomOAuthAppId: CONTRACT_OAUTH_APP_ID };

export const CONFIGURATIONS: readonly Configuration[] = [
  { name: 'defaults', slug: 'defaults', options: REQUIRED },
  {
    name: 'every option on',
    slug: 'all-options',
    options: {
      ...REQUIRED,
      ...IMPORTED_SECRETS,
      secretsKmsKeyArn: SECRETS_KEY_ARN,
      restrictKeyToFunctionRoles: true,
      zoomEventsRoute: true,
      tracing: true,
      callbackWaf: { rateLimitPer5Min: 500 },
      dashboard: true,
      detailedAlarms: true,
      alarmEmail: 'ops@example.com',
      refreshPolicy: 'adaptive',
      refresherReservedConcurrency: 0,
      deletionProtection: false,
    },
    eventBus: 'create',
    importedSecretsKey: { keyArn: SECRETS_KEY_ARN, secretArns: Object.values(IMPORTED_SECRETS) },
  },
];
