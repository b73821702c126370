// One Lambda container for a synthesized bundle, in a child Node process: the module the
// handler names is imported once (its cold start), then each invocation message from the parent
// is answered with the handler's result, as Lambda's Node.js runtime runs it.
//   node bundle-runner.mjs <module file> <export name>   (environment: the function's)
import { pathToFileURL } from 'node:url';

const [file, exportName] = process.argv.slice(2);

function describeError(error) {
  return { name: error?.name ?? 'Error', message: String(error?.message ?? error), stack: String(error?.stack ?? '') };
}

let handler;
try {
  const module = await import(pathToFileURL(file).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${file} exports no function ${exportName}`);
} catch (error) {
  process.send({ initError: describeError(error) });
  process.exit(1);
}

process.on('message', async ({ id, event, context, traceId }) => {
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  const invocation = {
    ...context,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, context.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(event, invocation);
    process.send({ id, result: result ?? null });
  } catch (error) {
    process.send({ id, error: describeError(error) });
  }
});

process.send({ ready: true });
