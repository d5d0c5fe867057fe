import { ConfigError } from "../lib/errors.ts";

/**
 * Every problem found in one pass over the configuration. The message lists each problem on its
 * own line (one problem: exactly that line), so a bad configuration is fixed in one round.
 */
export class ConfigProblems extends ConfigError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      problems.length === 1
        ? (problems[0] as string)
        : `${problems.length} problems in the configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "ConfigProblems";
    this.problems = problems;
  }
}
