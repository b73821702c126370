/**
 * A synthesized stack as the harness needs it: each function's role statements, environment,
 * handler and bundle; the key and queue policies. CloudFormation references are resolved to
 * concrete fake ARNs in FAKE_ACCOUNT / FAKE_REGION, named so that they are the resources the local
 * stand-ins hold: the one table is TABLE_NAME, the key the functions encrypt with is the KMS
 * stand-in's DEFAULT_KEY_ID, every other resource is named after its logical id.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ENV, FUNCTION_NAMES, type FunctionName } from '../../functions/contract';
import { TABLE_NAME } from '../../local/dynamo';
import { DEFAULT_KEY_ID } from '../../local/kms/kms-server';
import { FAKE_ACCOUNT, FAKE_REGION } from './iam-requests';

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

/** One statement of a function's role, and where it sits (for naming it, and for removing it in the mutation check). */
export interface RoleStatement {
  /** Logical id of the AWS::IAM::Policy (or `<role>.Policies`) holding it. */
  policy: string;
  index: number;
  statement: PolicyStatement;
}

export interface DeployedFunction {
  name: FunctionName;
  logicalId: string;
  roleArn: string;
  /** The principal a running function is: its role's session. */
  sessionArn: string;
  statements: RoleStatement[];
  /** The environment the template sets, resolved. */
  environment: Record<string, string>;
  handler: string;
  /** The bundle's directory in the cloud assembly (asset metadata). */
  assetDir?: string;
  logGroupName: string;
  tracing: boolean;
  timeoutSeconds: number;
  memorySize: number;
  /** Queues an event source mapping polls with this function's role. */
  eventSourceQueueArns: string[];
}

export interface DeployedStack {
  configuration: string;
  functions: Map<FunctionName, DeployedFunction>;
  /** Lambda functions the harness cannot name (see FUNCTION_NAMES): each one fails the contract test. */
  unknownFunctions: string[];
  keyPolicies: Map<string, PolicyDocument>;
  queuePolicies: Map<string, PolicyDocument>;
  queueUrls: string[];
  eventBusNames: string[];
  /** Secrets encrypted under a customer-managed key (read through Secrets Manager, which decrypts as the caller). */
  secretKmsKeys: Map<string, string>;
}

export interface LoadOptions {
  configuration: string;
  /** Where queue URLs point (a stand-in's URL); AWS's own endpoint otherwise. */
  queueUrlBase?: string;
  /** Imported secrets and the customer-managed key they are under (a setting the template cannot show). */
  importedSecretsKey?: { keyArn: string; secretArns: string[] };
}

interface Resource {
  Type: string;
  Properties?: Record<string, any>;
  Metadata?: Record<string, any>;
}

interface Template {
  Resources: Record<string, Resource>;
}

/** `refresh-worker` → `RefreshWorkerFunction`: the construct id of a function in the stack. */
export function constructIdOf(name: FunctionName): string {
  return `${name.replace(/(^|-)([a-z])/g, (_, _dash, letter: string) => letter.toUpperCase())}Function`;
}

const SECRET_SUFFIX = 'AbCdEf';

/** Resolves intrinsic functions to fake, concrete values. */
export class TemplateResolver {
  constructor(
    private readonly template: Template,
    private readonly names: Record<string, string>,
    private readonly queueUrlBase: string,
  ) {}

  private resource(id: string): Resource {
    const resource = this.template.Resources[id];
    if (!resource) throw new Error(`template has no resource ${id}`);
    return resource;
  }

  private nameOf(id: string): string {
    return this.names[id] ?? id;
  }

  ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Region': FAKE_REGION,
      'AWS::AccountId': FAKE_ACCOUNT,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': 'ContractVault',
    };
    if (pseudo[id]) return pseudo[id];
    const name = this.nameOf(id);
    switch (this.resource(id).Type) {
      case 'AWS::SQS::Queue':
        return `${this.queueUrlBase}/${FAKE_ACCOUNT}/${name}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:aws:secretsmanager:${FAKE_REGION}:${FAKE_ACCOUNT}:secret:${name}-${SECRET_SUFFIX}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${FAKE_REGION}:${FAKE_ACCOUNT}:${name}`;
      case 'AWS::ApiGatewayV2::Api':
        return name.toLowerCase().slice(0, 10);
      default:
        return name;
    }
  }

  getAtt(id: string, attribute: string): string {
    const type = this.resource(id).Type;
    const name = this.nameOf(id);
    const arns: Record<string, string> = {
      'AWS::DynamoDB::Table': `arn:aws:dynamodb:${FAKE_REGION}:${FAKE_ACCOUNT}:table/${name}`,
      'AWS::KMS::Key': `arn:aws:kms:${FAKE_REGION}:${FAKE_ACCOUNT}:key/${name}`,
      'AWS::SQS::Queue': `arn:aws:sqs:${FAKE_REGION}:${FAKE_ACCOUNT}:${name}`,
      'AWS::Events::EventBus': `arn:aws:events:${FAKE_REGION}:${FAKE_ACCOUNT}:event-bus/${name}`,
      'AWS::Logs::LogGroup': `arn:aws:logs:${FAKE_REGION}:${FAKE_ACCOUNT}:log-group:${name}:*`,
      'AWS::IAM::Role': `arn:aws:iam::${FAKE_ACCOUNT}:role/${name}`,
      'AWS::Lambda::Function': `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${name}`,
      'AWS::WAFv2::WebACL': `arn:aws:wafv2:us-east-1:${FAKE_ACCOUNT}:global/webacl/${name}/00000000-0000-0000-0000-000000000000`,
    };
    if (attribute === 'Arn' && arns[type]) return arns[type];
    if (attribute === 'QueueName' || attribute === 'Name') return name;
    if (attribute === 'QueueUrl') return this.ref(id);
    if (attribute === 'ApiEndpoint') return `https://${this.ref(id)}.execute-api.${FAKE_REGION}.amazonaws.com`;
    if (attribute === 'DomainName') return `${name.toLowerCase().slice(0, 14)}.cloudfront.net`;
    // Not used where the harness looks (policies, environments); a recognisable placeholder.
    return `${id}.${attribute}`;
  }

  resolve(value: unknown): any {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, argument] = entries[0] as [string, any];
      switch (key) {
        case 'Ref':
          return this.ref(argument);
        case 'Fn::GetAtt':
          return Array.isArray(argument)
            ? this.getAtt(argument[0], argument[1])
            : this.getAtt(...(argument.split('.') as [string, string]));
        case 'Fn::Join':
          return (this.resolve(argument[1]) as string[]).join(argument[0]);
        case 'Fn::Select':
          return (this.resolve(argument[1]) as string[])[Number(this.resolve(argument[0]))];
        case 'Fn::Split':
          return String(this.resolve(argument[1])).split(argument[0]);
        case 'Fn::Sub':
          return this.sub(argument);
        default:
          if (key.startsWith('Fn::')) throw new Error(`the harness does not resolve ${key}`);
      }
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, this.resolve(item)]));
  }

  private sub(argument: string | [string, Record<string, unknown>]): string {
    const [pattern, variables] = typeof argument === 'string' ? [argument, {}] : argument;
    return pattern.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in variables) return String(this.resolve(variables[name]));
      const [id, attribute] = name.split('.');
      return attribute ? this.getAtt(id, attribute) : this.ref(id);
    });
  }
}

function resourcesOf(template: Template, type: string): Array<[string, Resource]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** Names that make the template's resources the stand-ins' ones (see the file comment). */
function physicalNames(template: Template): Record<string, string> {
  const names: Record<string, string> = {};
  const tables = resourcesOf(template, 'AWS::DynamoDB::Table');
  if (tables.length === 1) names[tables[0][0]] = TABLE_NAME;
  for (const [, fn] of resourcesOf(template, 'AWS::Lambda::Function')) {
    const keyRef = fn.Properties?.Environment?.Variables?.[ENV.kmsKeyId]?.['Fn::GetAtt']?.[0];
    if (keyRef) names[keyRef] = DEFAULT_KEY_ID;
  }
  return names;
}

function functionNameOf(path: string | undefined): FunctionName | undefined {
  const constructId = /\/([A-Za-z0-9]+)\/Resource$/.exec(path ?? '')?.[1];
  return FUNCTION_NAMES.find((name) => constructIdOf(name) === constructId);
}

function roleStatements(template: Template, resolver: TemplateResolver, roleId: string): RoleStatement[] {
  const statements: RoleStatement[] = [];
  const role = template.Resources[roleId];
  if (role.Properties?.ManagedPolicyArns?.length) {
    throw new Error(`role ${roleId} has managed policies: the harness cannot read their statements`);
  }
  (role.Properties?.Policies ?? []).forEach((policy: any, p: number) => {
    resolver.resolve(policy.PolicyDocument).Statement.forEach((statement: PolicyStatement, index: number) => {
      statements.push({ policy: `${roleId}.Policies[${p}]`, index, statement });
    });
  });
  for (const [policyId, policy] of resourcesOf(template, 'AWS::IAM::Policy')) {
    if (!(policy.Properties?.Roles ?? []).some((r: any) => r.Ref === roleId)) continue;
    resolver.resolve(policy.Properties!.PolicyDocument).Statement.forEach((statement: PolicyStatement, index: number) => {
      statements.push({ policy: policyId, index, statement });
    });
  }
  return statements;
}

function deployedFunction(
  template: Template,
  resolver: TemplateResolver,
  outdir: string,
  [logicalId, fn]: [string, Resource],
  name: FunctionName,
): DeployedFunction {
  const props = fn.Properties ?? {};
  const roleId: string = props.Role['Fn::GetAtt'][0];
  const roleName = resolver.ref(roleId);
  const assetPath: string | undefined = fn.Metadata?.['aws:asset:path'];
  const eventSourceQueueArns = resourcesOf(template, 'AWS::Lambda::EventSourceMapping')
    .filter(([, mapping]) => mapping.Properties?.FunctionName?.Ref === logicalId)
    .map(([, mapping]) => resolver.resolve(mapping.Properties!.EventSourceArn) as string);
  return {
    name,
    logicalId,
    roleArn: resolver.getAtt(roleId, 'Arn'),
    sessionArn: `arn:aws:sts::${FAKE_ACCOUNT}:assumed-role/${roleName}/${resolver.ref(logicalId)}`,
    statements: roleStatements(template, resolver, roleId),
    environment: resolver.resolve(props.Environment?.Variables ?? {}),
    handler: props.Handler,
    ...(assetPath ? { assetDir: isAbsolute(assetPath) ? assetPath : join(outdir, assetPath) } : {}),
    logGroupName: props.LoggingConfig?.LogGroup ? resolver.resolve(props.LoggingConfig.LogGroup) : `/aws/lambda/${resolver.ref(logicalId)}`,
    tracing: props.TracingConfig?.Mode === 'Active',
    timeoutSeconds: props.Timeout ?? 3,
    memorySize: props.MemorySize ?? 128,
    eventSourceQueueArns,
  };
}

/** The stack `stackName` of the cloud assembly in `outdir`. */
export function loadDeployedStack(outdir: string, stackName: string, options: LoadOptions): DeployedStack {
  const template = JSON.parse(readFileSync(join(outdir, `${stackName}.template.json`), 'utf8')) as Template;
  const resolver = new TemplateResolver(
    template,
    physicalNames(template),
    options.queueUrlBase ?? `https://sqs.${FAKE_REGION}.amazonaws.com`,
  );
  const functions = new Map<FunctionName, DeployedFunction>();
  const unknownFunctions: string[] = [];
  for (const entry of resourcesOf(template, 'AWS::Lambda::Function')) {
    const name = functionNameOf(entry[1].Metadata?.['aws:cdk:path']);
    if (name) functions.set(name, deployedFunction(template, resolver, outdir, entry, name));
    else unknownFunctions.push(entry[1].Metadata?.['aws:cdk:path'] ?? entry[0]);
  }
  const keyPolicies = new Map(
    resourcesOf(template, 'AWS::KMS::Key').map(([id, key]) => [resolver.getAtt(id, 'Arn'), resolver.resolve(key.Properties!.KeyPolicy)]),
  );
  const queuePolicies = new Map<string, PolicyDocument>();
  for (const [, policy] of resourcesOf(template, 'AWS::SQS::QueuePolicy')) {
    for (const queue of policy.Properties!.Queues) {
      const queueId = queue.Ref as string;
      queuePolicies.set(resolver.getAtt(queueId, 'Arn'), resolver.resolve(policy.Properties!.PolicyDocument));
    }
  }
  const secretKmsKeys = new Map<string, string>();
  for (const [id, secret] of resourcesOf(template, 'AWS::SecretsManager::Secret')) {
    if (secret.Properties?.KmsKeyId) secretKmsKeys.set(resolver.ref(id), resolver.resolve(secret.Properties.KmsKeyId));
  }
  for (const arn of options.importedSecretsKey?.secretArns ?? []) secretKmsKeys.set(arn, options.importedSecretsKey!.keyArn);
  return {
    configuration: options.configuration,
    functions,
    unknownFunctions,
    keyPolicies,
    queuePolicies,
    queueUrls: resourcesOf(template, 'AWS::SQS::Queue').map(([id]) => resolver.ref(id)),
    eventBusNames: resourcesOf(template, 'AWS::Events::EventBus').map(([id]) => resolver.ref(id)),
    secretKmsKeys,
  };
}
