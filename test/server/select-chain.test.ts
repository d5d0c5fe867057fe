import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { selectChain } from "../../server/src/chain/select.ts";
import { DomainError } from "../../server/src/lib/errors.ts";

/** Orders and subscriptions name their chain the same way: by name or id, the first by default. */
describe("selectChain: the chain a request names", function () {
  const chains = [
    { name: "ethereum", chainId: 1n },
    { name: "base", chainId: 8453n },
  ];

  it("takes the first configured chain when none is named", function () {
    assert.equal(selectChain(chains, undefined), chains[0]);
  });

  it("finds a chain by name (any case, spaces around) or by decimal id", function () {
    assert.equal(selectChain(chains, "base"), chains[1]);
    assert.equal(selectChain(chains, "  Base "), chains[1]);
    assert.equal(selectChain(chains, "8453"), chains[1]);
    assert.equal(selectChain(chains, "1"), chains[0]);
  });

  it("refuses an unknown chain with 400 unsupported_chain listing the configured ones", function () {
    for (const wanted of ["gamma", "0x2105", "84530", ""]) {
      assert.throws(
        () => selectChain(chains, wanted),
        (error: unknown) =>
          error instanceof DomainError &&
          error.kind === "invalid" &&
          error.code === "unsupported_chain" &&
          error.message === `chain ${wanted} is not configured here; use one of ethereum (1), base (8453)`,
        wanted,
      );
    }
  });

  it("is a programming error without any chain", function () {
    assert.throws(() => selectChain([], undefined), /no chain configured/);
  });
});
