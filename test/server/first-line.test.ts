import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { firstLine } from "../../server/src/lib/errors.ts";

/** firstLine is how every log line and stored last error shows an error: its message's first line. */
describe("firstLine", function () {
  it("keeps the first line of an error's message", function () {
    assert.equal(firstLine(new Error("RPC down\n    at stack frame")), "RPC down");
    assert.equal(firstLine(new Error("")), "");
  });

  it("shows anything else thrown as text, null and undefined included", function () {
    assert.equal(firstLine("indexer stopped\ndetail"), "indexer stopped");
    assert.equal(firstLine(42), "42");
    assert.equal(firstLine(null), "null");
    assert.equal(firstLine(undefined), "undefined");
  });
});
