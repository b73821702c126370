/** The callback Lambda's entry: its dependencies built once per container from the environment. */
import { callbackDepsFromEnv } from '../handlers/composition';
import { makeCallbackHandler } from '../handlers/callback';

export const handler = makeCallbackHandler(callbackDepsFromEnv(process.env));
