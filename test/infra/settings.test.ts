import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { ZoomTokenStack } from '../../lib/zoom-token-stack';
import { TEST_CONTEXT } from './cdk-context';
import { DISPATCH_MAX_USERS } from '../../functions/contract';
import { dispatchMaxUsers, resolveVaultSettings, supportedUsers } from '../../lib/settings';

const DEFAULTS = { refreshWorkerConcurrency: 10, refreshIntervalMinutes: 5, refreshWindowSeconds: 900 };

describe('resolveVaultSettings', () => {
  it('defaults refreshWorkerConcurrency to 10', () => {
    // Act
    const settings = resolveVaultSettings(new App());

    // Assess
    expect(settings).toMatchObject(DEFAULTS);
  });

  it.each([
    ['2', 2],
    ['1000', 1000],
    [' 64 ', 64],
  ])('accepts refreshWorkerConcurrency %p from context', (raw, expected) => {
    // Prepare
    const app = new App({ context: { refreshWorkerConcurrency: raw } });

    // Act
    const settings = resolveVaultSettings(app);

    // Assess
    expect(settings.refreshWorkerConcurrency).toBe(expected);
  });

  it.each([1, 0, 1001, 2.5])('rejects refreshWorkerConcurrency %p (AWS allows 2 to 1000)', (value) => {
    // Act & Assess
    expect(() => resolveVaultSettings(new App(), { refreshWorkerConcurrency: value })).toThrow(
      /refreshWorkerConcurrency must be an integer from 2 to 1000/,
    );
  });
});

describe('dispatchMaxUsers', () => {
  it('is what the workers refresh in one interval: workers × 10 a batch × interval / 3 s a batch', () => {
    // Act & Assess
    expect(dispatchMaxUsers(DEFAULTS)).toBe(10_000);
    expect(dispatchMaxUsers({ refreshWorkerConcurrency: 50, refreshIntervalMinutes: 2 })).toBe(20_000);
  });

  it('stays within the range the dispatcher accepts', () => {
    // Act
    const values = [
      dispatchMaxUsers({ refreshWorkerConcurrency: 2, refreshIntervalMinutes: 1 }),
      dispatchMaxUsers({ refreshWorkerConcurrency: 1000, refreshIntervalMinutes: 45 }),
    ];

    // Assess
    for (const value of values) {
      expect(Number.isInteger(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(DISPATCH_MAX_USERS.min);
      expect(value).toBeLessThanOrEqual(DISPATCH_MAX_USERS.max);
    }
  });
});

describe('supportedUsers', () => {
  it('keeps 90,000 users fresh with the defaults', () => {
    // Act & Assess: 10,000 a run × (3600 − 900) s between refreshes / 300 s between runs.
    expect(supportedUsers(DEFAULTS)).toBe(90_000);
  });

  it('grows with the workers and shrinks with the window', () => {
    // Act & Assess
    expect(supportedUsers({ ...DEFAULTS, refreshWorkerConcurrency: 100 })).toBe(900_000);
    expect(supportedUsers({ ...DEFAULTS, refreshWindowSeconds: 1800 })).toBe(60_000);
  });

  it('does not depend on the interval while DISPATCH_MAX_USERS is not clamped', () => {
    // Act & Assess
    expect(supportedUsers({ ...DEFAULTS, refreshIntervalMinutes: 1 })).toBe(supportedUsers(DEFAULTS));
    expect(supportedUsers({ ...DEFAULTS, refreshIntervalMinutes: 9 })).toBe(supportedUsers(DEFAULTS));
  });
});

describe('refreshPolicy', () => {
  it('defaults to proactive; adaptive sets the policy and its two settings on the functions that serve and refresh tokens', () => {
    // Prepare
    const app = new App({
      context: {
        ...TEST_CONTEXT,
        refreshPolicy: 'adaptive',
        adaptiveActiveDays: '3',
        zoomClientId: 'zoom-client',
        recallZoomOAuthAppId: '6f1c5a2e-1111-4a4a-9b9b-0123456789ab',
      },
    });
    const stack = new ZoomTokenStack(app, 'PolicyVault', { env: { account: '111111111111', region: 'us-east-1' } });

    // Act
    const template = Template.fromStack(stack);
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Array<{
      Properties: { Environment?: { Variables?: Record<string, unknown> } };
    }>;
    const policies = functions.map((fn) => fn.Properties.Environment?.Variables?.REFRESH_POLICY).filter((value) => value !== undefined);

    // Assess
    expect(resolveVaultSettings(new App()).refreshPolicy).toBe('proactive');
    // The callback, the bot-token function, the admin function and the refresh workers.
    expect(policies).toEqual(['adaptive', 'adaptive', 'adaptive', 'adaptive']);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ REFRESH_POLICY: 'adaptive', ADAPTIVE_ACTIVE_DAYS: '3', ADAPTIVE_KEEPALIVE_HOURS: '24' }),
      },
    });
  });

  it('rejects an unknown policy, naming the allowed ones', () => {
    // Act & Assess
    expect(() => resolveVaultSettings(new App({ context: { refreshPolicy: 'lazy' } }))).toThrow(
      "refreshPolicy must be one of proactive, adaptive, got 'lazy'",
    );
  });
});

describe('settings that cannot work fail synth, naming the setting', () => {
  const stackIn = (region: string) => new Stack(new App(), 'Vault', { env: { account: '111111111111', region } });

  it.each([
    [
      'recallZoomOAuthAppId',
      { recallZoomOAuthAppId: 'my-recall-app' },
      /recallZoomOAuthAppId must be the id Recall gave your Zoom OAuth app \(a UUID/,
    ],
    ['zoomClientId', { zoomClientId: 'abc:def' }, /zoomClientId must be the Zoom OAuth app's client id/],
    ['alarmEmail', { alarmEmail: 'ops' }, /alarmEmail must be an e-mail address, got 'ops'/],
    [
      'recallApiKeySecretArn (partial ARN)',
      { recallApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-api-key' },
      /recallApiKeySecretArn must be the complete ARN of a secret/,
    ],
    [
      'zoomClientSecretArn (another region)',
      { zoomClientSecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:zoom-AbCdEf' },
      /zoomClientSecretArn must be in the stack's region eu-west-1/,
    ],
    [
      'secretsKmsKeyArn (an alias)',
      { secretsKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:alias/secrets' },
      /secretsKmsKeyArn must be the ARN of a KMS key \(…:key\/<key id>\), not an alias/,
    ],
    [
      'alarmTopicArn (another region)',
      { alarmTopicArn: 'arn:aws:sns:us-west-2:111111111111:alarms' },
      /alarmTopicArn must be in the stack's region eu-west-1 \(CloudWatch alarms notify topics in their own region only\)/,
    ],
  ] as const)('rejects %s', (_name, options, message) => {
    // Act & Assess
    expect(() => resolveVaultSettings(stackIn('eu-west-1'), options)).toThrow(message);
  });

  it('accepts what can work: a Recall UUID, a Zoom client id, complete ARNs in the stack region', () => {
    // Act
    const settings = resolveVaultSettings(stackIn('eu-west-1'), {
      recallZoomOAuthAppId: '6F1C5A2E-1111-4A4A-9B9B-0123456789AB',
      zoomClientId: 'nUQDcw8fQ2yi3Dne9yw8Sg',
      zoomClientSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:zoom-AbCdEf',
      secretsKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });

    // Assess
    expect(settings.zoomClientSecretArn).toBe('arn:aws:secretsmanager:eu-west-1:111111111111:secret:zoom-AbCdEf');
  });

  it("resolves Recall's signature check: off by default, enforce with an imported secret, the mode given otherwise", () => {
    // Prepare
    const arn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:recall-verification-AbCdEf';
    const key = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const keyStack = stackIn('eu-west-1');

    // Act
    const off = resolveVaultSettings(stackIn('eu-west-1'), {});
    const imported = resolveVaultSettings(keyStack, { recallVerificationSecretArn: arn, secretsKmsKeyArn: key });
    const reported = resolveVaultSettings(stackIn('eu-west-1'), { recallVerificationSecretArn: arn, recallSignatureMode: 'report' });
    const placeholder = resolveVaultSettings(stackIn('eu-west-1'), { recallSignatureMode: 'report' });

    // Assess
    expect([off.recallSignatureMode, off.recallVerificationSecretArn]).toEqual([undefined, undefined]);
    expect([imported.recallSignatureMode, imported.recallVerificationSecretArn]).toEqual(['enforce', arn]);
    expect(reported.recallSignatureMode).toBe('report');
    expect([placeholder.recallSignatureMode, placeholder.recallVerificationSecretArn]).toEqual(['report', undefined]);
    // The imported verification secret is under that key: the key is not ignored.
    expect(Annotations.fromStack(keyStack).findWarning('*', Match.stringLikeRegexp('secretsKmsKeyArn is ignored'))).toEqual([]);
  });

  it('warns about settings this combination ignores', () => {
    // Prepare
    const app = new App({ context: TEST_CONTEXT });

    // Act
    const stack = new ZoomTokenStack(app, 'IgnoringVault', {
      env: { account: '111111111111', region: 'us-east-1' },
      publicBaseUrl: 'https://vault.example.com',
      callbackWaf: true,
      zoomWebhookSecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:hook-AbCdEf',
    });
    const annotations = Annotations.fromStack(stack);

    // Assess
    annotations.hasWarning('*', Match.stringLikeRegexp('callbackWaf is ignored: publicBaseUrl is set'));
    annotations.hasWarning('*', Match.stringLikeRegexp('zoomWebhookSecretArn is ignored: zoomEventsRoute is off'));
  });
});
