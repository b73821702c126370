/** The Recall health check Lambda's entry (EventBridge schedule): its dependencies built once per container from the environment. */
import { recallHealthDepsFromEnv } from '../handlers/composition';
import { makeRecallHealthHandler } from '../handlers/recall-health';

export const handler = makeRecallHealthHandler(recallHealthDepsFromEnv(process.env));
