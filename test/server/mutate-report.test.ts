import assert from "node:assert/strict";
import { relative } from "node:path";
import { describe, it } from "mocha";
import { COMMITTED_RESULTS, reportTargets, WORKING_RESULTS } from "../../scripts/mutate.ts";

/**
 * `npm run mutate -- --sample 2` used to overwrite the committed docs/mutation-results.md (264
 * mutants) with a 2-mutant result. Every run now writes to a working file that is not committed;
 * only a run of every mutant that asks with --write-report replaces the committed report, at its end.
 */
describe("mutate: where a run's results go", function () {
  const full = { generated: 264, selected: 264, resultsEnv: undefined };

  it("a sample or partial run writes to the working file, never to the committed report", function () {
    for (const selected of [1, 2, 100, 263]) {
      assert.deepEqual(reportTargets({ ...full, selected, writeReport: false }), {
        results: WORKING_RESULTS,
      });
    }
    assert.notEqual(WORKING_RESULTS, COMMITTED_RESULTS);
    assert.match(WORKING_RESULTS, /bench\/results\/mutation-results\.md$/);
    assert.match(COMMITTED_RESULTS, /docs\/mutation-results\.md$/);
  });

  it("a complete run replaces the committed report only when asked to with --write-report", function () {
    assert.deepEqual(reportTargets({ ...full, writeReport: false }), { results: WORKING_RESULTS });
    assert.deepEqual(reportTargets({ ...full, writeReport: true }), {
      results: WORKING_RESULTS,
      publish: COMMITTED_RESULTS,
    });
  });

  it("--write-report with a selection is refused before anything runs, saying why", function () {
    const answer = reportTargets({ ...full, selected: 2, writeReport: true });
    assert.ok("error" in answer);
    assert.match(answer.error, /only a run of all 264 mutants/);
    assert.match(answer.error, /this selection has 2/);
  });

  it("MUTATE_REPORT moves the working file, but cannot name the committed report", function () {
    assert.deepEqual(reportTargets({ ...full, resultsEnv: "/tmp/m.md", writeReport: false }), {
      results: "/tmp/m.md",
    });
    const sneaky = reportTargets({ ...full, selected: 2, resultsEnv: COMMITTED_RESULTS, writeReport: false });
    assert.ok("error" in sneaky && /MUTATE_REPORT may not be the committed/.test(sneaky.error));
    // The same file named relatively, as a shell user would type it.
    const relativeName = relative(process.cwd(), COMMITTED_RESULTS);
    assert.ok("error" in reportTargets({ ...full, resultsEnv: relativeName, writeReport: false }));
  });
});
