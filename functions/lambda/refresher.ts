/** The refresher Lambda's entry: its dependencies built once per container from the environment. */
import { refresherDepsFromEnv } from '../handlers/composition';
import { makeRefresherHandler } from '../handlers/refresher';

export const handler = makeRefresherHandler(refresherDepsFromEnv(process.env));
