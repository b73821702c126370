/** The refresh worker Lambda's entry (SQS event source): its dependencies built once per container from the environment. */
import { workerDepsFromEnv } from '../handlers/composition';
import { makeRefreshWorkerHandler } from '../handlers/refresh-worker';

export const handler = makeRefreshWorkerHandler(workerDepsFromEnv(process.env));
