import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import {
  customMetricsInUse,
  fixedMonthlyCost,
  METRICS_PUBLISHED_WHEN_IDLE,
  synthesizeTemplate,
  total,
  variableMonthlyCost,
  refreshesPerUserDay,
} from '../../scripts/cost';

describe('what a deployment costs (scripts/cost.ts)', () => {
  let template: Template;

  beforeAll(() => {
    template = synthesizeTemplate();
  });

  it("keeps the default deployment's fixed cost under $5 a month", () => {
    // Act
    const lines = fixedMonthlyCost(template);

    // Assess
    expect(total(lines)).toBeLessThan(5);
    expect(Object.fromEntries(lines.filter((entry) => entry.monthly >= 0.05).map((entry) => [entry.item, entry.quantity]))).toEqual({
      'KMS keys': 1,
      'Secrets Manager secrets': 3,
      // 13 single-metric alarms and the bot-token failures' math alarm over two metrics.
      'CloudWatch alarms (standard, per metric)': 15,
      'Custom metrics published while idle (dispatcher)': 4,
    });
  });

  it('counts as idle metrics exactly those the dispatcher publishes on every run', () => {
    // Prepare
    const dispatcher = fs.readFileSync(path.join(__dirname, '..', '..', 'functions', 'handlers', 'dispatcher.ts'), 'utf8');

    // Assess
    for (const name of METRICS_PUBLISHED_WHEN_IDLE) expect(dispatcher).toContain(`'${name}'`);
  });

  it("keeps the Recall health check's metric off an idle deployment's bill: published only when someone is newly unhealthy", () => {
    // Prepare
    const recallHealth = fs.readFileSync(path.join(__dirname, '..', '..', 'functions', 'handlers', 'recall-health.ts'), 'utf8');

    // Act
    const publishing = recallHealth.split('\n').filter((line) => line.includes('countMetric('));

    // Assess: every call is guarded by a count above zero, and none is an idle metric.
    expect(publishing.length).toBeGreaterThan(0);
    for (const line of publishing) expect(line).toMatch(/if \(summary\.\w+ > 0\) countMetric\(/);
    expect(METRICS_PUBLISHED_WHEN_IDLE).not.toContain('RecallCredentialsUnhealthy');
  });

  it("counts the hourly Recall health check's idle runs", () => {
    // Act
    const requests = fixedMonthlyCost(template).find((entry) => entry.item === 'Idle Recall health checks (Lambda requests)');

    // Assess: 24 runs a day.
    expect(requests?.quantity).toBeCloseTo(24 * 30.42, 0);
  });

  it('counts every metric a deployment in use may publish', () => {
    // Act & Assess: the contract's 27 (RecallSignatureFailures only with Recall's signature
    // checked), the bot-token metrics' other 2 kinds and 9 reasons, and the access log's
    // CallbackThrottled and BotTokenThrottled.
    expect(customMetricsInUse(template)).toBe(40);
  });

  it("prices Recall's signature check at one alarm, plus the placeholder secret unless one is imported", () => {
    // Prepare
    const byItem = (lines: ReturnType<typeof fixedMonthlyCost>) => Object.fromEntries(lines.map((entry) => [entry.item, entry.quantity]));
    const base = byItem(fixedMonthlyCost(template));

    // Act
    const placeholder = fixedMonthlyCost(synthesizeTemplate({ recallSignatureMode: 'report' }));
    const imported = fixedMonthlyCost(
      synthesizeTemplate({ recallVerificationSecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:recall-AbCdEf' }),
    );

    // Assess
    const alarms = 'CloudWatch alarms (standard, per metric)';
    const secrets = 'Secrets Manager secrets';
    expect([byItem(placeholder)[alarms] - base[alarms], byItem(placeholder)[secrets] - base[secrets]]).toEqual([1, 1]);
    expect([byItem(imported)[alarms] - base[alarms], byItem(imported)[secrets] - base[secrets]]).toEqual([1, 0]);
    expect(total(placeholder) - total(fixedMonthlyCost(template))).toBeCloseTo(0.5, 5);
  });

  it('prices 100,000 users at a few hundred dollars a month, mostly DynamoDB writes', () => {
    // Act
    const lines = variableMonthlyCost(100_000);
    const writes = lines.find((entry) => entry.item.startsWith('DynamoDB writes'))!;

    // Assess: 32 refreshes a user a day.
    expect(lines.find((entry) => entry.item === 'Refresh workers (Lambda requests)')!.quantity).toBeCloseTo(
      (100_000 * 32 * 30.42) / 10,
      -3,
    );
    expect(total(lines)).toBeGreaterThan(300);
    expect(total(lines)).toBeLessThan(600);
    expect(writes.monthly / total(lines)).toBeGreaterThan(0.5);
  });
});

describe('refresh policies (scripts/cost.ts)', () => {
  it('adaptive costs as proactive when every user is active, and one keep-alive refresh a day per idle user', () => {
    // Act
    const proactive = refreshesPerUserDay(900);
    const allActive = refreshesPerUserDay(900, { kind: 'adaptive', activeShare: 1, keepAliveHours: 24 });
    const allIdle = refreshesPerUserDay(900, { kind: 'adaptive', activeShare: 0, keepAliveHours: 24 });
    const fifth = total(variableMonthlyCost(100_000, 900, { kind: 'adaptive', activeShare: 0.2, keepAliveHours: 24 }));

    // Assess
    expect(proactive).toBeCloseTo(32, 5);
    expect(allActive).toBeCloseTo(proactive, 10);
    expect(allIdle).toBe(1);
    expect(fifth).toBeLessThan(total(variableMonthlyCost(100_000)) / 4);
  });
});
