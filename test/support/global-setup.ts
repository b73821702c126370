/**
 * Before any test file: the Lambda bundles of the sources as they are, built once by the one
 * build (scripts/build-handlers.ts) for every test that synthesizes a stack or runs a bundle;
 * then the AWS contract's configurations synthesized once from them (test/aws/global-setup.ts).
 */
import { ensureHandlerBundles } from '../../scripts/build-handlers';
import synthesizeContractConfigurations from '../aws/global-setup';

export default async function globalSetup(): Promise<void> {
  ensureHandlerBundles();
  await synthesizeContractConfigurations();
}
