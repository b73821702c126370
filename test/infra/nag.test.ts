import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { App, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ZoomTokenStack, type ZoomTokenStackProps } from '../../lib/zoom-token-stack';
import { TEST_CONTEXT, TEST_ENV } from './cdk-context';

/**
 * cdk-nag 3 runs its packs as CDK validation plugins: synth fails with a report when a rule
 * finds something not acknowledged (Validations.of(construct).acknowledge, next to the construct).
 */
interface Acknowledged {
  path: string;
  id: string;
  reason: string;
}

function nagReport(props: ZoomTokenStackProps): { error?: string; report: any; acknowledged: Acknowledged[] } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
  const app = new App({ context: TEST_CONTEXT, outdir });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const stack = new ZoomTokenStack(app, 'NagVault', props);
  let error: string | undefined;
  try {
    app.synth();
  } catch (e) {
    error = String((e as Error).message);
  }
  const reportFile = path.join(outdir, 'validation-report.json');
  const report = fs.existsSync(reportFile) ? JSON.parse(fs.readFileSync(reportFile, 'utf8')) : undefined;
  const acknowledged = stack.node
    .findAll()
    .flatMap((construct: IConstruct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) =>
          Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id, reason })),
        ),
    );
  return { error, report, acknowledged };
}

describe('cdk-nag (AwsSolutions and Serverless packs)', () => {
  it.each([
    ['defaults', { env: TEST_ENV }],
    [
      'every option on',
      {
        env: { ...TEST_ENV, region: 'us-east-1' },
        alarmEmail: 'ops@example.com',
        detailedAlarms: true,
        dashboard: true,
        tracing: true,
        restrictKeyToFunctionRoles: true,
        callbackWaf: { rateLimitPer5Min: 500 },
        zoomEventsRoute: true,
        // Recall's signature checked on a placeholder secret the stack creates.
        recallSignatureMode: 'report',
        recallApiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:recall-AbCdEf',
        secretsKmsKeyArn: 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      },
    ],
  ] as const)('finds nothing unacknowledged with %s', (_name, props) => {
    // Act
    const { error, report, acknowledged } = nagReport(props as ZoomTokenStackProps);

    // Assess: no error and no warning left; every acknowledgement says why.
    expect(error).toBeUndefined();
    const violations = (report?.pluginReports ?? []).flatMap((plugin: any) => plugin.violations);
    expect(violations).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(40);
    if (process.env.NAG_SUMMARY) console.log(acknowledged.map((a) => `${a.path} ${a.id}: ${a.reason}`).join('\n'));
  });
});
