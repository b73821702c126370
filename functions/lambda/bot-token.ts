/** The bot-token Lambda's entry: its dependencies built once per container from the environment. */
import { makeBotTokenHandler } from '../handlers/bot-token';
import { botTokenDepsFromEnv } from '../handlers/composition';

export const handler = makeBotTokenHandler(botTokenDepsFromEnv(process.env));
