/**
 * Where the jest global setup left the synthesized contract configurations, and loading them.
 */
import { join } from 'node:path';
import { type Configuration, CONFIGURATIONS, STACK_NAME } from './configurations';
import { CONTRACT_DIR_ENV } from './global-setup';
import { type DeployedStack, loadDeployedStack } from './template';

export function contractDir(): string {
  const dir = process.env[CONTRACT_DIR_ENV];
  if (!dir)
    throw new Error(
      `${CONTRACT_DIR_ENV} is unset: run the tests with jest, whose global setup (test/aws/global-setup.ts) synthesizes the stacks`,
    );
  return dir;
}

/** A configuration's stack as deployed, its queue URLs on `queueUrlBase` when given (a stand-in). */
export function deployedStack(configuration: Configuration, queueUrlBase?: string): DeployedStack {
  return loadDeployedStack(join(contractDir(), configuration.slug), STACK_NAME, {
    configuration: configuration.name,
    ...(queueUrlBase ? { queueUrlBase } : {}),
    ...(configuration.importedSecretsKey ? { importedSecretsKey: configuration.importedSecretsKey } : {}),
  });
}

/** Every configuration's stack. */
export function deployedStacks(): DeployedStack[] {
  return CONFIGURATIONS.map((configuration) => deployedStack(configuration));
}
