import { Fn, Stack, Token } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  PriceClass,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { VaultApi } from './api';
import { acknowledge } from './nag';

export interface CallbackEdgeProps {
  readonly api: VaultApi;
  /** Requests one source IP may make in any 5 minutes before WAF blocks it. */
  readonly rateLimitPer5Min: number;
  /** Metric names of the WebACL and its rule. */
  readonly serviceName: string;
}

/**
 * CloudFront with a WAF (CLOUDFRONT scope) in front of the HTTP API, for the public routes: WAF
 * cannot attach to an API Gateway HTTP API, only to REST APIs, ALBs, AppSync and CloudFront. The
 * WebACL blocks a source IP that makes more than `rateLimitPer5Min` requests in 5 minutes.
 * CloudFront WebACLs exist only in us-east-1, so the stack must be there.
 *
 * The API's own endpoint stays reachable (the admin routes need it: SigV4 signs the API's host),
 * so this filters what reaches the callback through the URLs handed to Recall; the route's own
 * throttle still limits the rest.
 */
export class CallbackEdge extends Construct {
  readonly distribution: Distribution;
  readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: CallbackEdgeProps) {
    super(scope, id);
    assertInUsEast1(Stack.of(this).region);
    this.webAcl = this.createWebAcl(props);
    this.distribution = this.createDistribution(props.api);
    acknowledgeDistributionFindings(this.distribution);
  }

  /** Blocks a source IP over the rate limit; everything else passes. */
  private createWebAcl(props: CallbackEdgeProps): CfnWebACL {
    const metricName = props.serviceName.replace(/[^A-Za-z0-9]/g, '');
    return new CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: `${metricName}Callback` },
      rules: [
        {
          name: 'RatePerSourceIp',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: props.rateLimitPer5Min, aggregateKeyType: 'IP' } },
          visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: `${metricName}RatePerSourceIp` },
        },
      ],
    });
  }

  private createDistribution(api: VaultApi): Distribution {
    // https://<api id>.execute-api.<region>.amazonaws.com → its host.
    const apiHost = Fn.select(2, Fn.split('/', api.apiEndpoint));
    return new Distribution(this, 'Distribution', {
      comment: `Zoom token vault callback (${Stack.of(this).stackName})`,
      webAclId: this.webAcl.attrArn,
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: new HttpOrigin(apiHost, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
        }),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        // Every answer is per user and must not be cached (the API answers Cache-Control: no-store too).
        cachePolicy: CachePolicy.CACHING_DISABLED,
        // The query string carries the signature; the API needs its own Host header.
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // POST for Zoom's events; the admin routes are signed for the API's host and fail here.
        allowedMethods: AllowedMethods.ALLOW_ALL,
      },
    });
  }

  /** `https://<distribution domain>`: the base of the callback URLs handed to Recall. */
  get publicBaseUrl(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}

/** CloudFront WebACLs exist only in us-east-1: fail synth anywhere else. */
function assertInUsEast1(region: string): void {
  if (!Token.isUnresolved(region) && region === 'us-east-1') return;
  throw new Error(
    `callbackWaf needs the stack in us-east-1 (got ${Token.isUnresolved(region) ? 'an environment-agnostic stack' : region}): ` +
      'CloudFront WebACLs exist only in us-east-1, and WAF cannot attach to an HTTP API in any region. ' +
      "Deploy the vault to us-east-1 (env: { region: 'us-east-1' }), or leave callbackWaf unset.",
  );
}

function acknowledgeDistributionFindings(distribution: Distribution): void {
  acknowledge(
    distribution,
    'AwsSolutions-CFR1',
    'Recall and Zoom call from addresses and countries that change; a geo restriction would turn bots away.',
  );
  acknowledge(
    distribution,
    'AwsSolutions-CFR3',
    'Every request is forwarded to the HTTP API, whose access log records it (route, status, source IP); a second ' +
      'log in S3 would add a bucket to secure and pay for.',
  );
  acknowledge(
    distribution,
    'AwsSolutions-CFR4',
    'The default *.cloudfront.net certificate: CloudFront fixes its minimum viewer TLS version; a custom domain ' +
      'with its own certificate (publicBaseUrl) can require TLS 1.2.',
  );
}
