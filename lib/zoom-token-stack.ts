import { type CfnElement, CfnOutput, Resource, Stack, type StackProps } from 'aws-cdk-lib';
import { ADMIN_ROUTE_KEYS } from '../functions/contract';
import { ADMIN_ROUTE_NAMES } from './api';
import type { Construct, IConstruct } from 'constructs';
import { logicalIdOfPath } from './logical-ids';
import { resolveVaultSettings, type VaultOptions } from './settings';
import { ZoomTokenVault } from './zoom-token-vault';

export { RECALL_REGIONS } from './settings';
export type { RecallRegion } from './settings';
export { ZoomTokenVault } from './zoom-token-vault';

/**
 * Every setting is optional; an unset one falls back to the CDK context value of the same name
 * (`cdk deploy -c refreshIntervalMinutes=10`), then to a default (see VaultOptions).
 */
export interface ZoomTokenStackProps extends StackProps, VaultOptions {
  /**
   * CloudFormation termination protection: `cdk destroy` (and any stack delete) fails until it
   * is turned off. Off only for throwaway test stacks (`-c terminationProtection=false`).
   * @default true
   */
  readonly terminationProtection?: boolean;
}

/** The vault as a stack of its own, with the outputs an operator needs after deploy. */
export class ZoomTokenStack extends Stack {
  readonly vault: ZoomTokenVault;

  constructor(scope: Construct, id: string, props: ZoomTokenStackProps = {}) {
    super(scope, id, { ...props, terminationProtection: terminationProtectionOf(scope, props) });
    // Resolved once, here: a bad value fails synth before anything is built.
    const settings = resolveVaultSettings(this, props);
    this.vault = new ZoomTokenVault(this, 'Vault', { settings });
    this.addOutputs();
  }

  /**
   * Keeps the logical ids the resources had when this stack created them itself, before
   * ZoomTokenVault: the vault and the parts it groups its resources into are left out of the
   * path the id is made from. A new id would make CloudFormation replace the resource: a new
   * (empty) table and key while the old ones are retained, new placeholder secrets, a new API
   * endpoint that breaks every callback URL Recall holds, and failed updates for the alias,
   * stage and routes whose names are taken by the old ones.
   */
  protected allocateLogicalId(element: CfnElement): string {
    const scopesBelowStack = element.node.scopes.slice(this.node.scopes.length);
    const legacyPath = scopesBelowStack.filter((scope) => !this.isVaultGrouping(scope)).map((scope) => scope.node.id);
    return logicalIdOfPath(legacyPath);
  }

  /** The vault itself, or one of its parts: a plain construct directly under it (not a resource). */
  private isVaultGrouping(scope: IConstruct): boolean {
    if (scope instanceof ZoomTokenVault) return true;
    return scope.node.scope instanceof ZoomTokenVault && !Resource.isResource(scope);
  }

  private addOutputs(): void {
    const { vault } = this;
    new CfnOutput(this, 'ApiUrl', { description: 'Base URL of the HTTP API', value: vault.apiEndpoint });
    new CfnOutput(this, 'CallbackUrlBase', {
      description: 'Signed callback URLs handed to Recall start with this',
      value: vault.callbackUrlBase,
    });
    new CfnOutput(this, 'AdminApiInvokeArn', {
      description: 'Grant execute-api:Invoke on this to a backend that may call every admin route (/users*, GET /users included)',
      value: vault.api.adminRoutesArn,
    });
    // One per route: a backend that only registers users gets AdminRegisterInvokeArn and cannot read tokens.
    for (const route of ADMIN_ROUTE_KEYS) {
      new CfnOutput(this, `Admin${ADMIN_ROUTE_NAMES[route]}InvokeArn`, {
        description: `Grant execute-api:Invoke on this for ${route} alone`,
        value: vault.api.adminRouteArn(route),
      });
    }
    new CfnOutput(this, 'TableName', { value: vault.table.tableName });
    new CfnOutput(this, 'KmsKeyArn', { value: vault.key.keyArn });
    new CfnOutput(this, 'SigningKeysSecretArn', { value: vault.secrets.signingKeys.secretArn });
    new CfnOutput(this, 'RecallApiKeySecretArn', { value: vault.secrets.recallApiKey.secretArn });
    new CfnOutput(this, 'ZoomClientSecretArn', { value: vault.secrets.zoomClientSecret.secretArn });
    if (vault.secrets.recallVerificationSecret) {
      new CfnOutput(this, 'RecallVerificationSecretArn', {
        description: "Put Recall's workspace verification secret (whsec_…) here",
        value: vault.secrets.recallVerificationSecret.secretArn,
      });
    }
    if (vault.alarmTopic) {
      new CfnOutput(this, 'AlarmTopicArn', { value: vault.alarmTopic.topicArn });
    }
    if (vault.observability.dashboard) {
      new CfnOutput(this, 'DashboardName', { value: vault.observability.dashboard.dashboardName });
    }
  }
}

/** The prop, else context (`-c terminationProtection=false`), else on. */
function terminationProtectionOf(scope: Construct, props: ZoomTokenStackProps): boolean {
  const value = props.terminationProtection ?? scope.node.tryGetContext('terminationProtection');
  if (value === undefined || value === null || value === '') return true;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`terminationProtection must be true or false, got '${String(value)}'`);
}
