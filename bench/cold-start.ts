/**
 * Cold starts of built bundles, side by side: each bundle imported by a fresh Node process
 * (module-scope init: parsing the bundle, its modules' top level, the clients, Powertools), then
 * invoked once with a callback's event (the first call: keys, GetItem, Decrypt). The bundles take
 * turns, in alternating order, so a busy moment of a shared machine lands on both alike; the
 * ratio is the median of the ratios of runs made back to back.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { Env } from '../functions/config';

export interface ColdStart {
  importMs: number;
  firstCallMs: number;
  processMs: number;
  status: number;
}

/** Runs a bundled handler in a new Node process, with the environment the runtime gave the handlers. */
export function coldStart(bundleFile: string, callbackUrl: string, handlerEnv: Env): Promise<ColdStart> {
  const query = Object.fromEntries(new URL(callbackUrl).searchParams);
  const script = `
    const t0 = performance.now();
    const { handler } = await import(${JSON.stringify(pathToFileURL(bundleFile).href)});
    const t1 = performance.now();
    const event = { version: '2.0', routeKey: 'GET /zoom/token', rawPath: '/zoom/token', rawQueryString: '', headers: {},
      queryStringParameters: ${JSON.stringify(query)}, requestContext: { http: { method: 'GET', path: '/zoom/token' } }, isBase64Encoded: false };
    const deadline = Date.now() + 10000;
    const context = { functionName: 'callback', awsRequestId: 'cold', getRemainingTimeInMillis: () => deadline - Date.now() };
    const answer = await handler(event, context);
    const t2 = performance.now();
    process.stdout.write(JSON.stringify({ importMs: t1 - t0, firstCallMs: t2 - t1, status: answer.statusCode }));`;
  const began = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ['--no-warnings', '--input-type=module', '-e', script],
      // A queue URL that is never used: the probe's token is fresh, so nothing is enqueued.
      {
        env: {
          ...process.env,
          ...handlerEnv,
          REFRESH_QUEUE_URL: 'http://127.0.0.1:9/unused-queue',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
          POWERTOOLS_DEV: 'false',
        },
      },
      (error, stdout, stderr) => {
        if (error) {
          const lines = stderr.split('\n').filter((line) => /Error/.test(line));
          return reject(new Error(`cold start of ${bundleFile} failed: ${lines.slice(-3).join(' | ').slice(0, 500)}`));
        }
        const processMs = Number(process.hrtime.bigint() - began) / 1e6;
        resolvePromise({ ...(JSON.parse(stdout) as Omit<ColdStart, 'processMs'>), processMs });
      },
    );
  });
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

export interface ColdStartComparison {
  subject: ColdStart[];
  baseline: ColdStart[];
  /** Median over the pairs of subject import ÷ baseline import, each pair run back to back. */
  importRatio: number;
}

/** `runs` cold starts of each bundle, taking turns (the order flips every pair). */
export async function compareColdStarts(
  subjectFile: string,
  baselineFile: string,
  runs: number,
  callbackUrl: string,
  handlerEnv: Env,
): Promise<ColdStartComparison> {
  const subject: ColdStart[] = [];
  const baseline: ColdStart[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2) baseline.push(await coldStart(baselineFile, callbackUrl, handlerEnv));
    subject.push(await coldStart(subjectFile, callbackUrl, handlerEnv));
    if (!(i % 2)) baseline.push(await coldStart(baselineFile, callbackUrl, handlerEnv));
  }
  const importRatio = median(subject.map((run, i) => run.importMs / baseline[i].importMs));
  return { subject, baseline, importRatio };
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

/** "import 61.20 ms, first call 30.10 ms, process total 160.00 ms (median; HTTP 200)" */
export function formatColdStarts(runs: ColdStart[]): string {
  const statuses = [...new Set(runs.map((run) => run.status))].join(',');
  return (
    `import ${ms(median(runs.map((r) => r.importMs)))}, first call ${ms(median(runs.map((r) => r.firstCallMs)))}, ` +
    `process total ${ms(median(runs.map((r) => r.processMs)))} (median; HTTP ${statuses})`
  );
}
