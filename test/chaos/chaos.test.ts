/**
 * The reduced chaos matrix in `npm test`: every scenario once, a fixed seed, a few users, one round,
 * all scenarios running at once (each on its own dynalite, KMS stand-in and fakes) so the whole file
 * takes about as long as the slowest scenario (a Zoom answer held past the 8 s client timeout).
 *
 * A scenario passes with zero avoidable losses, zero invalid_grant verdicts on live grants and
 * zero users in a wrong state. `test.failing` marks the scenarios that fail on today's code
 * (issue #7's bug list): flip each to `test` once its fix lands. `npm run chaos` runs the full matrix.
 */
import { formatTable, passed, runScenario, SCENARIOS, type ScenarioResult } from './harness';

const SEED = 7;
const USERS = 12;

/** Fail on today's code; see the closing note of the chaos harness for the figures. */
const KNOWN_FAILING = new Set(['zoom_late_answer', 'zoom_malformed_success', 'zoom_dead_grants']);

jest.setTimeout(60_000);

const results = new Map<string, Promise<ScenarioResult>>();

beforeAll(() => {
  for (const scenario of SCENARIOS) {
    const running = runScenario(scenario, { seed: SEED, users: USERS, rounds: 1 });
    running.catch(() => undefined); // reported by the scenario's own test
    results.set(scenario.name, running);
  }
});

afterAll(async () => {
  const settled = await Promise.allSettled(results.values());
  const done = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (process.env.CHAOS_PRINT) process.stdout.write(`${formatTable(done)}\n`);
});

describe('chaos: no avoidable loss, no live grant condemned, no wrong state', () => {
  for (const scenario of SCENARIOS) {
    const run = KNOWN_FAILING.has(scenario.name) ? test.failing : test;
    run(`${scenario.name}: ${scenario.about}`, async () => {
      const result = await results.get(scenario.name)!;
      expect({ scenario: result.scenario, reasons: result.reasons, passed: passed(result) }).toEqual({
        scenario: scenario.name,
        reasons: expect.anything(),
        passed: true,
      });
      expect(result.lostAvoidable).toBe(0);
      expect(result.invalidGrantLive).toBe(0);
      expect(result.wrongState).toBe(0);
    });
  }
});
