/**
 * What a deployment costs, recomputed from its synthesized template: the fixed monthly cost
 * (what you pay with no users at all) and the variable cost per 100,000 users.
 *
 *   npx tsx scripts/cost.ts            # the default deployment
 *   npx tsx scripts/cost.ts -c dashboard=true -c alarmEmail=ops@example.com
 *
 * Prices: us-east-1 list prices, without any free tier (an account's free alarms, metrics and
 * dashboards are usually used up by something else). Check them against the current price pages.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BOT_TOKEN_FAILURE_REASONS, BOT_TOKEN_KINDS, METRIC } from '../functions/contract';
import { ZoomTokenStack } from '../lib/zoom-token-stack';

export const PRICES = {
  kmsKeyMonth: 1.0,
  kmsPerRequest: 0.03 / 10_000,
  secretMonth: 0.4,
  alarmMetricMonth: 0.1,
  customMetricMonth: 0.3,
  dashboardMonth: 3.0,
  wafWebAclMonth: 5.0,
  wafRuleMonth: 1.0,
  /** Lambda on arm64, per GB-second and per request. */
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1_000_000,
  /** DynamoDB on-demand since November 2024 (they were $0.25 and $1.25 before). */
  dynamoReadUnit: 0.125 / 1_000_000,
  dynamoWriteUnit: 0.625 / 1_000_000,
  dynamoGbMonth: 0.25,
  pitrGbMonth: 0.2,
  sqsRequest: 0.4 / 1_000_000,
  logsIngestGb: 0.5,
} as const;

/**
 * The custom metrics an idle deployment publishes: the dispatcher's, on every run, zeros included
 * (functions/handlers/dispatcher.ts). Every other metric is published only when its event
 * happens (the Recall health check's RecallCredentialsUnhealthy only when it marks someone), and
 * a custom metric is billed for the hours it is published in.
 */
export const METRICS_PUBLISHED_WHEN_IDLE: readonly string[] = [
  METRIC.usersDue,
  METRIC.dispatched,
  METRIC.deferred,
  METRIC.oldestDueAgeSeconds,
];

/** Assumptions of the variable cost (see docs/cost.md). */
export const USAGE = {
  daysPerMonth: 30.42,
  /** Zoom access tokens live an hour; a user is refreshed every 3600 s − refreshWindowSeconds. */
  tokenLifetimeSeconds: 3600,
  /** What one worker invocation (a batch of 10) bills: 512 MB for ~0.5 s. */
  workerBatchSize: 10,
  workerMemoryGb: 0.5,
  workerSeconds: 0.5,
  /** One record: two sealed tokens, the sealed data key, fingerprints, state. */
  itemKb: 2,
  /** Per refresh: one strongly consistent GetItem, and two UpdateItems (lease, save) of the whole item. */
  readsPerRefresh: 1,
  updatesPerRefresh: 2,
  /** The save moves due_at: the KEYS_ONLY due-index entry is deleted and put (2 small writes). */
  indexWritesPerRefresh: 2,
  /** SendMessageBatch, ReceiveMessage and DeleteMessageBatch, ten messages each. */
  sqsRequestsPerRefresh: 0.3,
  /** The worker's 'token refreshed' line, and Lambda's START/END/REPORT lines per invocation (JSON). */
  logBytesPerRefresh: 300,
  logBytesPerInvocation: 600,
  /** A dispatcher run with nobody due: ~0.2 s at 512 MB, one Query per due shard. */
  idleDispatcherSeconds: 0.2,
  /** A Recall health check with nobody unhealthy: one list request to Recall, ~1 s at 512 MB. */
  idleRecallHealthSeconds: 1,
} as const;

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly unitPrice: number;
  readonly monthly: number;
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation properties as synthesized, read field by field
type Resource = { Type: string; Properties: Record<string, any> };

const line = (item: string, quantity: number, unitPrice: number): CostLine => ({
  item,
  quantity,
  unitPrice,
  monthly: quantity * unitPrice,
});

/** The fixed monthly cost of the deployment `template` describes: what it costs with no users. */
export function fixedMonthlyCost(template: Template): CostLine[] {
  const resources = Object.values(template.toJSON().Resources as Record<string, Resource>);
  const count = (type: string) => resources.filter((resource) => resource.Type === type).length;
  // A metric math alarm is billed per metric it reads.
  const alarmMetrics = resources
    .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
    .reduce(
      (sum, alarm) =>
        sum + (alarm.Properties.Metrics ? alarm.Properties.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat).length : 1),
      0,
    );
  const dispatcher = resources.find(
    (resource) => resource.Type === 'AWS::Lambda::Function' && resource.Properties.Environment?.Variables?.DISPATCH_MAX_USERS !== undefined,
  );
  const schedule = resources.find(
    (resource) => resource.Type === 'AWS::Events::Rule' && JSON.stringify(resource.Properties.Targets).includes('Dispatcher'),
  );
  const runs = runsPerMonth(schedule, 5);
  const healthCheck = resources.find(
    (resource) =>
      resource.Type === 'AWS::Lambda::Function' &&
      String(resource.Properties.Description).startsWith("Checks the users' Recall credentials"),
  );
  const healthSchedule = resources.find(
    (resource) => resource.Type === 'AWS::Events::Rule' && JSON.stringify(resource.Properties.Targets).includes('RecallHealth'),
  );
  const healthRuns = healthCheck ? runsPerMonth(healthSchedule, 60) : 0;
  const shards = Number(dispatcher?.Properties.Environment.Variables.DUE_SHARDS ?? 8);
  const wafAcls = resources.filter((resource) => resource.Type === 'AWS::WAFv2::WebACL');
  const lines = [
    line('KMS keys', count('AWS::KMS::Key'), PRICES.kmsKeyMonth),
    line('Secrets Manager secrets', count('AWS::SecretsManager::Secret'), PRICES.secretMonth),
    line('CloudWatch alarms (standard, per metric)', alarmMetrics, PRICES.alarmMetricMonth),
    line('Custom metrics published while idle (dispatcher)', dispatcher ? METRICS_PUBLISHED_WHEN_IDLE.length : 0, PRICES.customMetricMonth),
    line('CloudWatch dashboards', count('AWS::CloudWatch::Dashboard'), PRICES.dashboardMonth),
    line('WAF WebACLs', wafAcls.length, PRICES.wafWebAclMonth),
    line(
      'WAF rules',
      wafAcls.reduce((sum, acl) => sum + acl.Properties.Rules.length, 0),
      PRICES.wafRuleMonth,
    ),
    line(
      'Idle dispatcher runs (Lambda GB-s)',
      dispatcher ? runs * (dispatcher.Properties.MemorySize / 1024) * USAGE.idleDispatcherSeconds : 0,
      PRICES.lambdaArmGbSecond,
    ),
    line('Idle dispatcher runs (Lambda requests)', dispatcher ? runs : 0, PRICES.lambdaRequest),
    line('Idle dispatcher queries (DynamoDB read units)', dispatcher ? runs * shards : 0, PRICES.dynamoReadUnit),
    line(
      'Idle Recall health checks (Lambda GB-s)',
      healthRuns * ((healthCheck?.Properties.MemorySize ?? 0) / 1024) * USAGE.idleRecallHealthSeconds,
      PRICES.lambdaArmGbSecond,
    ),
    line('Idle Recall health checks (Lambda requests)', healthRuns, PRICES.lambdaRequest),
  ];
  return lines.filter((entry) => entry.quantity > 0);
}

/** Runs a month of the rule's `rate(n minutes|hours|days)` schedule; `defaultMinutes` without one. */
function runsPerMonth(rule: Resource | undefined, defaultMinutes: number): number {
  const match = /rate\((\d+) (minute|hour|day)s?\)/.exec(rule?.Properties.ScheduleExpression ?? '');
  const minutes = match ? Number(match[1]) * { minute: 1, hour: 60, day: 1440 }[match[2] as 'minute' | 'hour' | 'day'] : defaultMinutes;
  return (USAGE.daysPerMonth * 24 * 60) / minutes;
}

/** Custom metrics a deployment in use may publish every hour: every METRIC name and the metric filters' metrics. */
export function customMetricsInUse(template: Template): number {
  const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')) as Resource[];
  // The bot-token metrics are one metric per value of their dimension (kind, reason).
  const dimensioned = BOT_TOKEN_KINDS.length - 1 + (BOT_TOKEN_FAILURE_REASONS.length - 1);
  return Object.values(METRIC).length + dimensioned + filters.length;
}

/**
 * How many refreshes a user costs a day under a refresh policy. Proactive: every token kept
 * fresh. Adaptive: the share of users served within the active days as proactive, the others
 * once per keep-alive period (their callback's refresh is counted among the active ones: a
 * served user is an active one).
 */
export type PolicyUsage = { kind: 'proactive' } | { kind: 'adaptive'; activeShare: number; keepAliveHours: number };

export function refreshesPerUserDay(refreshWindowSeconds: number, policy: PolicyUsage = { kind: 'proactive' }): number {
  const warm = 86_400 / (USAGE.tokenLifetimeSeconds - refreshWindowSeconds);
  if (policy.kind === 'proactive') return warm;
  return policy.activeShare * warm + (1 - policy.activeShare) * (24 / policy.keepAliveHours);
}

/** The variable monthly cost of `users` users, with the refresh window of the template's dispatcher. */
export function variableMonthlyCost(users: number, refreshWindowSeconds = 900, policy: PolicyUsage = { kind: 'proactive' }): CostLine[] {
  const refreshes = users * refreshesPerUserDay(refreshWindowSeconds, policy) * USAGE.daysPerMonth;
  const invocations = refreshes / USAGE.workerBatchSize;
  const writeUnitsPerUpdate = Math.ceil(USAGE.itemKb);
  const storageGb = (users * USAGE.itemKb) / 1024 / 1024;
  return [
    line('Refresh workers (Lambda GB-s)', invocations * USAGE.workerMemoryGb * USAGE.workerSeconds, PRICES.lambdaArmGbSecond),
    line('Refresh workers (Lambda requests)', invocations, PRICES.lambdaRequest),
    line('DynamoDB reads (read units)', refreshes * USAGE.readsPerRefresh, PRICES.dynamoReadUnit),
    line(
      'DynamoDB writes (write units, due-index included)',
      refreshes * (USAGE.updatesPerRefresh * writeUnitsPerUpdate + USAGE.indexWritesPerRefresh),
      PRICES.dynamoWriteUnit,
    ),
    line('SQS requests', refreshes * USAGE.sqsRequestsPerRefresh, PRICES.sqsRequest),
    line(
      'CloudWatch Logs ingestion (GB)',
      (refreshes * USAGE.logBytesPerRefresh + invocations * USAGE.logBytesPerInvocation) / 1e9,
      PRICES.logsIngestGb,
    ),
    line('DynamoDB storage (GB)', storageGb, PRICES.dynamoGbMonth),
    line('Point-in-time recovery (GB)', storageGb, PRICES.pitrGbMonth),
  ];
}

/** Zoom calls, Lambda GB-s, DynamoDB reads and writes and dollars a month for `users` users, per policy. */
export function policyComparison(users: number, policies: Array<[string, PolicyUsage]>, refreshWindowSeconds = 900): string {
  const rows = policies.map(([name, policy]) => {
    const lines = variableMonthlyCost(users, refreshWindowSeconds, policy);
    const find = (prefix: string) => lines.find((entry) => entry.item.startsWith(prefix))!.quantity;
    const zoomCalls = users * refreshesPerUserDay(refreshWindowSeconds, policy) * USAGE.daysPerMonth;
    return (
      `| ${name} | ${quantity(Math.round(zoomCalls))} | ${quantity(Math.round(find('Refresh workers (Lambda GB-s)')))} | ` +
      `${quantity(Math.round(find('DynamoDB reads')))} | ${quantity(Math.round(find('DynamoDB writes')))} | ${money(total(lines))} |`
    );
  });
  return [
    '| policy | Zoom calls | Lambda GB-s | DynamoDB read units | DynamoDB write units | per month |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

export const total = (lines: readonly CostLine[]) => lines.reduce((sum, entry) => sum + entry.monthly, 0);

const money = (value: number) => (value < 0.01 && value > 0 ? '< $0.01' : `$${value.toFixed(2)}`);
const quantity = (value: number) =>
  Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 1 });

const unitPrice = (value: number) => (value < 0.001 ? `$${Number((value * 1e6).toPrecision(4))} per million` : `$${value.toFixed(2)}`);

export function markdownTable(lines: readonly CostLine[]): string {
  return [
    '| item | quantity | unit price | per month |',
    '|---|---:|---:|---:|',
    ...lines.map((entry) => `| ${entry.item} | ${quantity(entry.quantity)} | ${unitPrice(entry.unitPrice)} | ${money(entry.monthly)} |`),
    `| **total** | | | **${money(total(lines))}** |`,
  ].join('\n');
}

/** The default deployment's template (or with `-c name=value` settings). */
export function synthesizeTemplate(context: Record<string, string> = {}): Template {
  // Costs do not depend on the bundles' contents (prebuilt, scripts/build-handlers.ts): nothing else to bundle.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new ZoomTokenStack(app, 'CostVault', { env: { account: '111111111111', region: 'us-east-1' } });
  return Template.fromStack(stack);
}

if (require.main === module) {
  const context: Record<string, string> = {};
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === '-c') {
      const [name, ...value] = args[i + 1].split('=');
      context[name] = value.join('=');
      i += 1;
    }
  }
  const template = synthesizeTemplate(context);
  const fixed = fixedMonthlyCost(template);
  const inUse = customMetricsInUse(template);
  console.log('## Fixed monthly cost (no users)\n');
  console.log(markdownTable(fixed));
  console.log(
    `\nOnce users are active, up to ${inUse} custom metrics are published every hour: at most ` +
      `${money((inUse - METRICS_PUBLISHED_WHEN_IDLE.length) * PRICES.customMetricMonth)} a month more than idle.`,
  );
  console.log('\n## Variable monthly cost per 100,000 users\n');
  console.log(markdownTable(variableMonthlyCost(100_000, Number(context.refreshWindowSeconds ?? 900))));
  console.log('\n## Per refresh policy, 100,000 users a month\n');
  console.log(
    policyComparison(
      100_000,
      [
        ['proactive', { kind: 'proactive' }],
        ['adaptive, 50% of users served within 7 days', { kind: 'adaptive', activeShare: 0.5, keepAliveHours: 24 }],
        ['adaptive, 20% of users served within 7 days', { kind: 'adaptive', activeShare: 0.2, keepAliveHours: 24 }],
      ],
      Number(context.refreshWindowSeconds ?? 900),
    ),
  );
}
