#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ZoomTokenStack } from '../lib/zoom-token-stack';

// Settings come from CDK context, e.g.
//   npx cdk deploy -c recallRegion=eu-central-1 -c zoomClientId=abc -c alarmEmail=ops@example.com
// ZoomTokenStack resolves each setting once, from props, then context, then defaults
// (lib/settings.ts); only the stack name is chosen here. Give a second copy its own name: -c stackName=ZoomTokenVaultStaging
const app = new App();

const stackName: string = app.node.tryGetContext('stackName') || 'ZoomTokenVault';

new ZoomTokenStack(app, stackName, {
  description: 'Zoom OAuth token vault for Recall.ai: signed token callback, encrypted token store, refresh fan-out',
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  },
});
