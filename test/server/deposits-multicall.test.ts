import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { decodeFunctionResult, encodeAbiParameters, encodeFunctionData, parseAbi } from "viem";
import { decodeGetEthBalances, encodeGetEthBalances } from "../../server/src/deposits/sources.ts";

/** Multicall3 (the canonical one public networks have at 0xcA11…CA11): viem's coder is the oracle. */
const multicall3Abi = parseAbi([
  "struct Call3 { address target; bool allowFailure; bytes callData; }",
  "struct Result { bool success; bytes returnData; }",
  "function aggregate3(Call3[] calls) payable returns (Result[] returnData)",
  "function getEthBalance(address addr) view returns (uint256 balance)",
]);

/** The hand-written Multicall3 calldata and result decoding agree with viem's ABI coder. */
describe("deposit balance reads: Multicall3 getEthBalance coding", function () {
  const MC: `0x${string}` = "0xcA11bde05977b3631167028862bE2a173976CA11";
  const addresses = Array.from(
    { length: 7 },
    (_, i) => `0x${(i * 0x1234567 + 1).toString(16).padStart(40, "0")}`,
  );

  it("encodes aggregate3 exactly as viem does", function () {
    const viem = encodeFunctionData({
      abi: multicall3Abi,
      functionName: "aggregate3",
      args: [
        addresses.map((a) => ({
          target: MC,
          allowFailure: false,
          callData: encodeFunctionData({
            abi: multicall3Abi,
            functionName: "getEthBalance",
            args: [a as `0x${string}`],
          }),
        })),
      ],
    });
    assert.equal(encodeGetEthBalances(MC, addresses), viem.toLowerCase());
    assert.equal(
      encodeGetEthBalances(MC, []),
      encodeFunctionData({ abi: multicall3Abi, functionName: "aggregate3", args: [[]] }),
    );
  });

  it("decodes the results as viem does", function () {
    const balances = [0n, 1n, 10n ** 18n, 2n ** 255n, 7n, 0n, 123456789n];
    const out = encodeAbiParameters(
      [
        {
          type: "tuple[]",
          components: [
            { type: "bool", name: "success" },
            { type: "bytes", name: "returnData" },
          ],
        },
      ],
      [balances.map((b) => ({ success: true, returnData: encodeAbiParameters([{ type: "uint256" }], [b]) }))],
    );
    const viem = decodeFunctionResult({ abi: multicall3Abi, functionName: "aggregate3", data: out });
    assert.deepEqual(
      decodeGetEthBalances(out, balances.length),
      viem.map((r) => BigInt(r.returnData)),
    );
    assert.deepEqual(decodeGetEthBalances(out, balances.length), balances);
    assert.throws(() => decodeGetEthBalances(out, 3), /7 results for 3 calls/);
  });
});
