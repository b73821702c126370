import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { AnyPrincipal, Effect, type IGrantable, type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENCRYPTION_CONTEXT, ENV, type KeyAttribute, TABLE_INDEXES, TABLE_SCHEMA } from '../functions/contract';

export interface TokenStorageProps {
  /** Number of `due_shard` partitions the handlers spread the due-index over. */
  readonly dueShards: number;
  /** @default `alias/<stack name>/zoom-tokens` */
  readonly keyAlias?: string;
  /** DynamoDB deletion protection: the table cannot be deleted (by CloudFormation or anyone) while on. @default true */
  readonly deletionProtection?: boolean;
}

/**
 * Where the tokens live: the table, its due index and the envelope key. Each role gets its
 * access through one grant method, so what a function may do is read in one place.
 */
export class TokenStorage extends Construct {
  readonly table: ITable;
  readonly key: IKey;
  /** ARN of the sparse, sharded index of the records due for refresh. */
  readonly dueIndexArn: string;
  /** What a function that only finds records (the dispatcher) needs: the table and its due index. */
  readonly tableEnvironment: Record<string, string>;
  /** What a function that opens tokens needs: the table and the key. */
  readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: TokenStorageProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;

    const table = new Table(this, 'TokenTable', {
      partitionKey: attribute(TABLE_SCHEMA.partitionKey),
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Users' grants cannot be recreated without each user re-authorizing Zoom.
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: props.deletionProtection ?? true,
    });
    // The due index is sparse (only active records carry due_shard/due_at, so the dispatcher
    // never sees users awaiting re-authorization) and sharded (its queries spread over
    // partitions); the others list users by state without a scan. All KEYS_ONLY: an index is
    // written only when its keys change, not on every refresh.
    for (const index of TABLE_INDEXES) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: ProjectionType.KEYS_ONLY,
      });
    }
    const { dueIndex } = TABLE_SCHEMA;

    this.key = new Key(this, 'TokenKey', {
      description: `Envelope key for the Zoom OAuth tokens stored by ${stackName}`,
      enableKeyRotation: true,
      // Derived from the stack name: aliases are unique per account and region.
      alias: props.keyAlias ?? `alias/${stackName}/zoom-tokens`,
      // Without the key the table's contents (and its backups) are unreadable.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table = table;
    this.dueIndexArn = `${table.tableArn}/index/${dueIndex.name}`;
    this.tableEnvironment = {
      [ENV.tableName]: table.tableName,
      [ENV.dueIndexName]: dueIndex.name,
      [ENV.dueShards]: String(props.dueShards),
    };
    this.environment = { ...this.tableEnvironment, [ENV.kmsKeyId]: this.key.keyArn };
  }

  /** The callback: reads a record and opens its tokens. Never writes: refreshes are the workers'. */
  grantServe(grantee: IGrantable): void {
    this.grantRecordActions(grantee, 'ReadTokenRecord', ['dynamodb:GetItem']);
    this.grantUseKey(grantee, ['kms:Decrypt']);
  }

  /**
   * The bot-token function: reads a record and opens its tokens, as the callback does; never
   * writes (refreshes are the workers'). One method of its own, so what it may do is read here.
   */
  grantMintBotTokens(grantee: IGrantable): void {
    this.grantRecordActions(grantee, 'ReadTokenRecord', ['dynamodb:GetItem']);
    this.grantUseKey(grantee, ['kms:Decrypt']);
  }

  /**
   * The admin API: stores, reads, updates and deletes records, and lists users by state (an index
   * query, then the records read in batches: GET /users, the CLI's list, resync --all and
   * rotate-signing-key); never scans.
   */
  grantRegister(grantee: IGrantable): void {
    this.grantRecordActions(grantee, 'ManageTokenRecords', [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    this.grantIndexQuery(grantee, 'ListUsersByState', TABLE_SCHEMA.statusIndex.name, TABLE_SCHEMA.recallStatusIndex.name);
    this.grantUseKey(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']);
  }

  /** The dispatcher: finds due records through the due index only; reads no record and no token. */
  grantDispatch(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'FindDueRecords',
        actions: ['dynamodb:Query'],
        resources: [this.dueIndexArn],
      }),
    );
  }

  /** A refresh worker: reads a record, leases it, opens its tokens and seals the refreshed pair. */
  grantRefresh(grantee: IGrantable): void {
    this.grantRecordActions(grantee, 'ReadAndRefreshTokenRecord', ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    this.grantUseKey(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']);
  }

  /**
   * The Recall health check: reads the users Recall lists as unhealthy (Recall names them) and
   * records what Recall says; queries no index and opens no token.
   */
  grantRecallHealthCheck(grantee: IGrantable): void {
    this.grantRecordActions(grantee, 'RecordRecallHealth', ['dynamodb:GetItem', 'dynamodb:UpdateItem']);
  }

  /**
   * Zoom's event route: finds users by Zoom user id (an index query, then the records read in a
   * batch) and marks them deauthorized, their tokens removed; deletes no record, opens no token.
   */
  grantZoomEvents(grantee: IGrantable): void {
    this.grantIndexQuery(grantee, 'FindUsersByZoomUserId', TABLE_SCHEMA.zoomUserIndex.name);
    this.grantRecordActions(grantee, 'DeauthorizeRecords', ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem']);
  }

  /**
   * Denies the key's data use to every principal but `roles` (the account root statement stays,
   * so the account still administers the key and can lift this). Deny beats Allow: an
   * administrator's `kms:*` no longer opens tokens.
   */
  restrictKeyUseTo(roles: IRole[]): void {
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DataUseOnlyByVaultFunctions',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:Encrypt', 'kms:ReEncrypt*'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': roles.map((role) => role.roleArn) } },
      }),
    );
  }

  private grantIndexQuery(grantee: IGrantable, sid: string, ...indexNames: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid,
        actions: ['dynamodb:Query'],
        resources: indexNames.map((indexName) => `${this.table.tableArn}/index/${indexName}`),
      }),
    );
  }

  private grantRecordActions(grantee: IGrantable, sid: string, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ sid, actions, resources: [this.table.tableArn] }));
  }

  /** Data keys are usable only for this vault's records: IAM requires the vault's encryption context. */
  private grantUseKey(grantee: IGrantable, actions: Array<'kms:Decrypt' | 'kms:GenerateDataKey'>): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'UseTokenKeyForVaultRecordsOnly',
        actions,
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:EncryptionContext:purpose': ENCRYPTION_CONTEXT.purpose } },
      }),
    );
  }
}

function attribute(key: KeyAttribute): { name: string; type: AttributeType } {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}
