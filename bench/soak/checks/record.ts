/** The end-state checks' results, by name, in the order they ran; each is printed as it is recorded. */
export type CheckResults = Record<string, { ok: boolean; detail: string }>;

export class Checks {
  readonly results: CheckResults = {};
  check(name: string, ok: boolean, detail: string) {
    this.results[name] = { ok, detail };
    console.log(`${ok ? "PASS" : "FAIL"}  ${name}: ${detail}`);
  }
}
