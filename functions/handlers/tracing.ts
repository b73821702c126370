/**
 * The Powertools Tracer (X-Ray) and the middy engine its middleware runs on, in the bundles built
 * with it only. Both functions load them on demand: the X-Ray SDK under it installs an async hook when imported (cls-hooked), which taxes
 * every promise of the process, traced or not.
 *
 * The bundles come in two builds (contract BUNDLE_VARIANTS). The build without the Tracer
 * defines `process.env.ZOOM_TOKEN_VAULT_TRACER_BUNDLED` as 'false' (contract TRACER_BUNDLED):
 * each branch below that loads it is then dead code, and esbuild leaves the Tracer and the X-Ray
 * SDK out of the bundle altogether. Unbundled (tests, the local runtime) the variable is unset
 * and the Tracer loads when asked for.
 */
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { ConfigError } from '../config';

const NOT_BUNDLED =
  'Tracing is on (POWERTOOLS_TRACE_ENABLED=true) but this bundle was built without the Powertools Tracer: ' +
  'the `tracing` setting of the stack picks the bundles built with it';

export function loadTracer(serviceName: string): Tracer {
  if (process.env.ZOOM_TOKEN_VAULT_TRACER_BUNDLED !== 'false') {
    const { Tracer: TracerClass } = require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
    return new TracerClass({ serviceName, enabled: true, captureHTTPsRequests: true });
  }
  throw new ConfigError(NOT_BUNDLED);
}

/**
 * The invocation's X-Ray segment, by Powertools' own middleware on middy (both only in the traced
 * bundles). Responses are not recorded: the callback's body is an access token.
 */
export function traceInvocations<Event, Result>(
  tracer: Tracer,
  handler: (event: Event, context: Context) => Promise<Result>,
): (event: Event, context: Context) => Promise<Result> {
  if (process.env.ZOOM_TOKEN_VAULT_TRACER_BUNDLED !== 'false') {
    const { default: middy } = require('@middy/core') as typeof import('@middy/core');
    const { captureLambdaHandler } =
      require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
    return middy(handler, { timeoutEarlyInMillis: 0 }).use(captureLambdaHandler(tracer, { captureResponse: false }));
  }
  throw new ConfigError(NOT_BUNDLED);
}
