import * as fs from 'node:fs';
import * as path from 'node:path';

/** The feature flags from cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8'),
).context;

/** A concrete account and region, so the templates hold literal ARNs and aliases. */
export const TEST_ENV = { account: '111111111111', region: 'eu-west-1' };
