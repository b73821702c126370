import * as fs from 'node:fs';
import * as path from 'node:path';

/** The feature flags from cdk.json, so tests synthesize what `cdk synth` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8'),
).context;

/** A concrete account and region, so the templates hold literal ARNs and aliases. */
export const TEST_ENV = { account: '111111111111', region: 'eu-west-1' };

/**
 * The context most infra tests synthesize with: cdk.json's flags, and no bundling. The functions'
 * code is prebuilt (scripts/build-handlers.ts, run once by jest's global setup), so this only
 * spares the rest (CDK bundles nothing else today).
 */
export const TEST_CONTEXT: Record<string, unknown> = { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] };
