/** The admin Lambda's entry: its dependencies built once per container from the environment. */
import { adminDepsFromEnv } from '../handlers/composition';
import { makeAdminHandler } from '../handlers/admin';

export const handler = makeAdminHandler(adminDepsFromEnv(process.env));
