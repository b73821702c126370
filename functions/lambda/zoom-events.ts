/** The Zoom events Lambda's entry (POST /zoom/events): its dependencies built once per container from the environment. */
import { zoomEventsDepsFromEnv } from '../handlers/composition';
import { makeZoomEventsHandler } from '../handlers/zoom-events';

export const handler = makeZoomEventsHandler(zoomEventsDepsFromEnv(process.env));
