import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface VaultSecretsProps {
  /** Complete ARN of an existing secret holding the Recall API key. @default - a new secret with a placeholder value */
  readonly recallApiKeySecretArn?: string;
  /** Complete ARN of an existing secret holding the Zoom client secret. @default - a new secret with a placeholder value */
  readonly zoomClientSecretArn?: string;
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

  constructor(scope: Construct, id: string, props: VaultSecretsProps) {
    super(scope, id);
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
    this.recallApiKey = importOrCreateSecret(this, 'RecallApiKeySecret', props.recallApiKeySecretArn,
      'Recall.ai API key (replace the generated placeholder after deploy)');
    this.zoomClientSecret = importOrCreateSecret(this, 'ZoomClientSecret', props.zoomClientSecretArn,
      'Zoom OAuth app client secret (replace the generated placeholder after deploy)');
  }
}

/** Lets `grantee` read exactly these secrets, in one statement. */
export function grantReadSecrets(grantee: IGrantable, ...secrets: ISecret[]): void {
  grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({
    sid: 'ReadSecrets',
    actions: ['secretsmanager:GetSecretValue'],
    resources: secrets.map((secret) => secret.secretArn),
  }));
}

/** Uses the secret at `arn` when given; otherwise creates one with a placeholder for the operator to replace. */
function importOrCreateSecret(scope: Construct, id: string, arn: string | undefined, description: string): ISecret {
  if (arn) {
    return Secret.fromSecretCompleteArn(scope, id, arn);
  }
  return new Secret(scope, id, {
    description,
    generateSecretString: { passwordLength: 32, excludePunctuation: true },
  });
}
