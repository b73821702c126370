import { ArnFormat, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
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
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnLoggingConfiguration, CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
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
  /** Every request the WebACL sees, with the caller's address (the API's access log behind CloudFront has CloudFront's). */
  readonly requestLog: LogGroup;

  constructor(scope: Construct, id: string, props: CallbackEdgeProps) {
    super(scope, id);
    assertInUsEast1(Stack.of(this).region);
    this.webAcl = this.createWebAcl(props);
    this.requestLog = this.logWebAclRequests();
    this.distribution = this.createDistribution(props.api);
    acknowledgeDistributionFindings(this.distribution);
  }

  /**
   * WAF's own log of every request through the distribution: time, the caller's address and
   * country, the rule that acted. The query string is redacted: it carries the URL's signature.
   * WAF writes only to log groups named aws-waf-logs-*, given by an ARN without the `:*` suffix.
   */
  private logWebAclRequests(): LogGroup {
    const logGroupName = `aws-waf-logs-${Stack.of(this).stackName}-callback`;
    const requestLog = new LogGroup(this, 'RequestLog', {
      logGroupName,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const logging = new CfnLoggingConfiguration(this, 'RequestLogging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [logGroupArn],
      redactedFields: [{ queryString: {} }],
    });
    logging.node.addDependency(requestLog);
    return requestLog;
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
    "CloudFront's own access log (to S3) is off: the WebACL logs every request that reaches the distribution, with the " +
      "caller's address, to CloudWatch Logs (aws-waf-logs-…, 30 days, query string redacted), whereas the HTTP API's access " +
      "log behind CloudFront records CloudFront's address, not the caller's.",
  );
  acknowledge(
    distribution,
    'AwsSolutions-CFR4',
    'The default *.cloudfront.net certificate, with which CloudFront also accepts TLS 1.0 and 1.1 from viewers: its minimum ' +
      'protocol cannot be raised without a custom domain and certificate on the distribution, which callbackWaf does not ' +
      'offer (publicBaseUrl replaces the distribution). Clients that speak TLS 1.2 (Recall, Zoom) negotiate it; the origin ' +
      'leg to the API is TLS 1.2 only.',
  );
}
