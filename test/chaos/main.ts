/**
 * npm run chaos — the full matrix: every scenario, several seeds, many users. Prints one table and
 * exits 1 on any avoidable loss, invalid_grant for a live grant, or user left in a wrong state.
 *
 *   CHAOS_SEEDS=1,2,3  CHAOS_USERS=200  CHAOS_SCENARIOS=baseline,mixed  npm run chaos
 */
import { formatTable, passed, runScenario, SCENARIOS, type ScenarioResult } from './harness';

async function main(): Promise<void> {
  const seeds = (process.env.CHAOS_SEEDS ?? '1,2,3').split(',').map(Number);
  const users = Number(process.env.CHAOS_USERS ?? 200);
  const only = process.env.CHAOS_SCENARIOS?.split(',');
  const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    for (const seed of seeds) {
      const result = await runScenario(scenario, { seed, users });
      results.push(result);
      process.stderr.write(
        `${scenario.name} seed ${seed}: ${passed(result) ? 'ok' : 'FAIL'} (${(result.durationMs / 1000).toFixed(1)} s)\n`,
      );
    }
  }
  process.stdout.write(`${formatTable(results)}\n`);
  process.exitCode = results.every(passed) ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos run failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 2;
});
