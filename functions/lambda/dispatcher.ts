/** The dispatcher Lambda's entry: its dependencies built once per container from the environment. */
import { dispatcherDepsFromEnv } from '../handlers/composition';
import { makeDispatcherHandler } from '../handlers/dispatcher';

export const handler = makeDispatcherHandler(dispatcherDepsFromEnv(process.env));
