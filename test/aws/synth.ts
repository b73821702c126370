/**
 * Synthesizes every contract configuration, bundles included, into `<outdir>/<slug>/` (a cloud
 * assembly with asset and path metadata, as `cdk synth` writes it). Run by the jest global setup:
 *   tsx test/aws/synth.ts <outdir>
 */
import { join } from 'node:path';
import { App, Stack, type StackProps } from 'aws-cdk-lib';
import type { VaultOptions } from '../../lib/settings';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { resolveVaultSettings, ZoomTokenVault, type ZoomTokenVaultProps } from '../../lib/zoom-token-vault';
import { CDK_JSON_CONTEXT } from '../infra/cdk-context';
import { type Configuration, CONFIGURATIONS, STACK_NAME } from './configurations';
import { FAKE_ACCOUNT, FAKE_REGION } from './iam-requests';

/** The vault in a stack of its own, with a choice of event bus (a construct prop, not a stack setting). */
class VaultStack extends Stack {
  constructor(scope: App, id: string, props: StackProps & { options: VaultOptions; eventBus?: ZoomTokenVaultProps['eventBus'] }) {
    super(scope, id, props);
    new ZoomTokenVault(this, 'Vault', { settings: resolveVaultSettings(this, props.options), eventBus: props.eventBus });
  }
}

/** ZoomTokenStack itself, unless the configuration needs a vault prop the stack has no setting for. */
function buildStack(app: App, configuration: Configuration): Stack {
  const env = { account: FAKE_ACCOUNT, region: FAKE_REGION };
  if (configuration.eventBus === undefined) return new ZoomTokenStack(app, STACK_NAME, { env, ...configuration.options });
  return new VaultStack(app, STACK_NAME, { env, options: configuration.options, eventBus: configuration.eventBus });
}

const outdir = process.argv[2];
if (!outdir) throw new Error('usage: tsx test/aws/synth.ts <outdir>');

for (const configuration of CONFIGURATIONS) {
  const app = new App({
    outdir: join(outdir, configuration.slug),
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:enable-asset-metadata': true, 'aws:cdk:enable-path-metadata': true },
  });
  buildStack(app, configuration);
  app.synth();
}
