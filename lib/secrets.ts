import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

export interface VaultSecretsProps {
  /** Complete ARN of an existing secret holding the Recall API key. @default - a new secret with a placeholder value */
  readonly recallApiKeySecretArn?: string;
  /** Complete ARN of an existing secret holding the Zoom client secret. @default - a new secret with a placeholder value */
  readonly zoomClientSecretArn?: string;
  /**
   * The customer-managed key the imported secrets are encrypted with: whoever may read one of
   * them may also decrypt with this key, through Secrets Manager only. @default - aws/secretsmanager
   */
  readonly secretsKmsKeyArn?: string;
  /** Complete ARN of an existing secret holding Recall's verification secret. @default - a placeholder, when checked at all */
  readonly recallVerificationSecretArn?: string;
  /** Set when Recall's request signature is checked: only then is there a verification secret. @default - not checked */
  readonly recallSignatureMode?: string;
}

/** The URL signing keys, the Recall API key and the Zoom client secret. */
export class VaultSecrets extends Construct {
  /**
   * JSON: `active` names the key id new URLs are signed with; every other
   * property is key id -> key material. Rotate by adding k2, then moving `active`.
   */
  readonly signingKeys: ISecret;
  readonly recallApiKey: ISecret;
  readonly zoomClientSecret: ISecret;
  /**
   * Recall's workspace verification secret(s), `whsec_…` separated by spaces: only when Recall's
   * request signature is checked. A created one holds a generated placeholder (no `whsec_`
   * value), which the token functions treat as no usable secret: enforced, every request is refused.
   */
  readonly recallVerificationSecret?: ISecret;
  private readonly secretsKmsKeyArn?: string;
  /** Secrets given by ARN (maybe under `secretsKmsKeyArn`), not created here. */
  private readonly imported = new Set<ISecret>();

  constructor(scope: Construct, id: string, props: VaultSecretsProps) {
    super(scope, id);
    this.secretsKmsKeyArn = props.secretsKmsKeyArn;
    this.signingKeys = new Secret(this, 'SigningKeysSecret', {
      description: `HMAC keys that sign the Recall callback URLs of ${Stack.of(this).stackName}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ active: 'k1' }),
        generateStringKey: 'k1',
        passwordLength: 64,
        excludePunctuation: true,
      },
      // Losing these keys invalidates every callback URL already given to Recall.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.signingKeys,
      'AwsSolutions-SMG4',
      'Rotated by `zoom-token-vault rotate-signing-key` (a new key added and made active, every user re-synced with Recall ' +
        'through the admin API, the old key removed; resumable), whose admin calls the AWS contract test checks against the admin role. ' +
        'A rotation function replaces the value at once, which would revoke every callback URL Recall holds.',
    );
    this.recallApiKey = this.importOrCreate(
      this,
      'RecallApiKeySecret',
      props.recallApiKeySecretArn,
      'Recall.ai API key (replace the generated placeholder after deploy)',
    );
    this.zoomClientSecret = this.importOrCreate(
      this,
      'ZoomClientSecret',
      props.zoomClientSecretArn,
      'Zoom OAuth app client secret (replace the generated placeholder after deploy)',
    );
    if (props.recallSignatureMode) {
      this.recallVerificationSecret = this.importOrCreate(
        this,
        'RecallVerificationSecret',
        props.recallVerificationSecretArn,
        'Recall.ai workspace verification secret, whsec_… (replace the generated placeholder after deploy; old and new separated by a space while Recall rotates it)',
      );
    }
  }

  /**
   * Uses the secret at `arn` when given; otherwise creates one with a placeholder for the
   * operator to replace. `scope` is where a created secret lives (its logical id follows).
   */
  importOrCreate(scope: Construct, id: string, arn: string | undefined, description: string): ISecret {
    if (arn) {
      const secret = Secret.fromSecretCompleteArn(scope, id, arn);
      this.imported.add(secret);
      return secret;
    }
    const secret = new Secret(scope, id, {
      description,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    suppressRotationFinding(secret, description);
    return secret;
  }

  /**
   * Lets `grantee` read exactly these secrets, in one statement; and when one of them is
   * imported under `secretsKmsKeyArn`, decrypt with that key when Secrets Manager asks for it.
   */
  grantRead(grantee: IGrantable, ...secrets: ISecret[]): void {
    grantReadSecrets(grantee, ...secrets);
    if (this.secretsKmsKeyArn && secrets.some((secret) => this.imported.has(secret))) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DecryptImportedSecrets',
          actions: ['kms:Decrypt'],
          resources: [this.secretsKmsKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
  }
}

/** Lets `grantee` read exactly these secrets, in one statement. */
export function grantReadSecrets(grantee: IGrantable, ...secrets: ISecret[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      sid: 'ReadSecrets',
      actions: ['secretsmanager:GetSecretValue'],
      resources: secrets.map((secret) => secret.secretArn),
    }),
  );
}

function suppressRotationFinding(secret: Secret, what: string): void {
  acknowledge(
    secret,
    'AwsSolutions-SMG4',
    `${what}: a credential issued by a third party (Recall, Zoom); only its issuer can rotate it, so Secrets Manager rotation cannot.`,
  );
}
