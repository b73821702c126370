/**
 * Jest setup (setupFilesAfterEnv): after each test file, the AWS calls its functions made (the
 * integration tests' runtimes, the chaos harness: test/aws/recorder.ts) are evaluated against
 * every contract configuration's roles. A call IAM would deny fails the file, naming the
 * function, the action and the resource.
 */
import { appendFileSync } from 'node:fs';
import { fileCalls } from './recorder';

afterAll(async () => {
  if (fileCalls.size === 0 && fileCalls.unmapped().length === 0) return;
  // Loaded only by files that made calls.
  const { deployedStacks } = await import('./contract-dir');
  const { callProblems } = await import('./iam-check');
  const problems = await callProblems(deployedStacks(), fileCalls);
  // AWS_CONTRACT_SUMMARY=<file>: each file appends the distinct calls it checked (one JSON line each), for counting.
  const summary = process.env.AWS_CONTRACT_SUMMARY;
  if (summary) {
    const lines = fileCalls.distinct().map((call) => `${JSON.stringify({ file: expect.getState().testPath, ...call })}\n`);
    appendFileSync(summary, lines.join(''));
  }
  if (problems.length) {
    throw new Error(`AWS calls made in this file that IAM would not allow in AWS (see docs/aws-contract.md):\n  ${problems.join('\n  ')}`);
  }
});
