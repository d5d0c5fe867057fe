import assert from "node:assert/strict";
import { parse as parseEthUrl } from "eth-url-parser";
import { describe, it } from "mocha";
import { encodeFunctionData, erc20Abi, getAddress, parseAbi, toFunctionSelector, zeroAddress } from "viem";
import {
  decodeUint,
  encodeAllowance,
  encodeApprove,
  encodeBalanceOf,
  encodeCancel,
  encodePay,
  encodePayToken,
  SELECTORS,
} from "../../server/src/web/client/abi.js";
import { transferUri } from "../../server/src/web/payment-uri.ts";

/** An EIP-681 amount as eth-url-parser returns it ("17000000000000000", or "1e+21") as an exact bigint. */
function exact(amount: string): bigint {
  const match = /^(\d+)(?:\.(\d+))?(?:e\+?(\d+))?$/.exec(amount);
  assert.ok(match, `an amount: ${amount}`);
  const [, whole = "", fraction = "", exponent = "0"] = match;
  const shift = Number(exponent) - fraction.length;
  assert.ok(shift >= 0, `a whole number of units: ${amount}`);
  return BigInt(whole + fraction) * 10n ** BigInt(shift);
}

const ADDRESSES = [
  "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  "0x0000000000000000000000000000000000000001",
  "0xffffffffffffffffffffffffffffffffffffffff",
] as const;
const AMOUNTS = [0n, 1n, 17_000_000_000_000_000n, 42_500_000n, 10n ** 21n, 123_456_789_012_345_678_901_234n];

describe("pay page: plain-transfer EIP-681 URIs, as wallets parse them (eth-url-parser)", function () {
  it("ETH: ethereum:<address>@<chainId>?value=<wei>", function () {
    for (const address of ADDRESSES) {
      for (const amount of AMOUNTS) {
        for (const chainId of [1, 31337, 11155111]) {
          const uri = transferUri({ address: address.toLowerCase(), chainId, amount });
          assert.equal(uri, `ethereum:${getAddress(address)}@${chainId}?value=${amount}`);
          const parsed = parseEthUrl(uri);
          assert.equal(parsed.target_address, getAddress(address));
          assert.equal(parsed.chain_id, String(chainId));
          assert.equal(parsed.function_name, undefined, "a plain transfer, no contract call");
          assert.deepEqual(Object.keys(parsed.parameters ?? {}), ["value"]);
          assert.equal(exact(parsed.parameters?.value as string), amount);
        }
      }
    }
    // The zero address as the token means ETH.
    assert.equal(
      transferUri({ address: ADDRESSES[0], chainId: 1n, token: zeroAddress, amount: 5n }),
      `ethereum:${ADDRESSES[0]}@1?value=5`,
    );
  });

  it("token: ethereum:<token>@<chainId>/transfer?address=<address>&uint256=<units>", function () {
    const token = ADDRESSES[1];
    for (const address of ADDRESSES) {
      for (const amount of AMOUNTS.filter((a) => a > 0n)) {
        const uri = transferUri({ address, chainId: 31337n, token: token.toLowerCase(), amount });
        assert.equal(
          uri,
          `ethereum:${token}@31337/transfer?address=${getAddress(address)}&uint256=${amount}`,
        );
        const parsed = parseEthUrl(uri);
        assert.equal(parsed.target_address, token, "the transfer is a call on the token contract");
        assert.equal(parsed.chain_id, "31337");
        assert.equal(parsed.function_name, "transfer");
        assert.equal(parsed.parameters?.address, getAddress(address));
        assert.equal(exact(parsed.parameters?.uint256 as string), amount);
      }
    }
  });

  it("refuses what is not an address or a negative amount", function () {
    assert.throws(() => transferUri({ address: "0x1234", chainId: 1, amount: 1n }));
    assert.throws(() => transferUri({ address: ADDRESSES[0], chainId: 1, amount: -1n }), RangeError);
    assert.throws(() => transferUri({ address: ADDRESSES[0], chainId: 1, token: "usdc", amount: 1n }));
  });
});

describe("pay page: the page script's calldata encoder agrees with viem", function () {
  const processorAbi = parseAbi([
    "function pay(address merchant, bytes32 orderId) payable",
    "function payToken(address token, uint256 amount, address merchant, bytes32 orderId)",
  ]);
  const refs = [
    `0x${"00".repeat(31)}01`,
    "0x000000000000000000000000000000000000000000000000000000e8d4a51000",
    `0x${"ff".repeat(32)}`,
  ] as const;
  const UINTS = [...AMOUNTS, (1n << 256n) - 1n];

  it("selectors are the functions' keccak selectors", function () {
    assert.equal(SELECTORS.pay, toFunctionSelector("pay(address,bytes32)"));
    assert.equal(SELECTORS.payToken, toFunctionSelector("payToken(address,uint256,address,bytes32)"));
    assert.equal(SELECTORS.approve, toFunctionSelector("approve(address,uint256)"));
    assert.equal(SELECTORS.allowance, toFunctionSelector("allowance(address,address)"));
    assert.equal(SELECTORS.balanceOf, toFunctionSelector("balanceOf(address)"));
    assert.equal(SELECTORS.cancel, toFunctionSelector("cancel(uint256)"));
  });

  it("cancel(id) (the subscription page's on-chain cancel) encodes exactly as viem does", function () {
    const subscriptionsAbi = parseAbi(["function cancel(uint256 id)"]);
    for (const id of [1n, 255n, 10n ** 18n, (1n << 256n) - 1n]) {
      const viem = encodeFunctionData({ abi: subscriptionsAbi, functionName: "cancel", args: [id] });
      assert.equal(encodeCancel(id), viem);
      assert.equal(encodeCancel(id.toString()), viem, "decimal strings too");
    }
  });

  it("pay, payToken, approve, allowance and balanceOf encode exactly as viem does", function () {
    for (const a of ADDRESSES) {
      for (const b of ADDRESSES) {
        for (const ref of refs) {
          assert.equal(
            encodePay(a, ref),
            encodeFunctionData({ abi: processorAbi, functionName: "pay", args: [a, ref] }),
          );
        }
        assert.equal(
          encodeAllowance(a, b),
          encodeFunctionData({ abi: erc20Abi, functionName: "allowance", args: [a, b] }),
        );
        for (const amount of UINTS) {
          assert.equal(
            encodeApprove(a, amount),
            encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [a, amount] }),
          );
          assert.equal(encodeApprove(a, amount.toString()), encodeApprove(a, amount), "decimal strings too");
          assert.equal(
            encodePayToken(a, amount, b, refs[1]),
            encodeFunctionData({
              abi: processorAbi,
              functionName: "payToken",
              args: [a, amount, b, refs[1]],
            }),
          );
        }
      }
      assert.equal(
        encodeBalanceOf(a),
        encodeFunctionData({ abi: erc20Abi, functionName: "balanceOf", args: [a] }),
      );
    }
  });

  it("refuses malformed arguments instead of sending wrong calldata", function () {
    assert.throws(() => encodePay("0x1234", refs[0]), TypeError);
    assert.throws(() => encodePay(ADDRESSES[0], "0x01"), TypeError);
    assert.throws(() => encodeApprove(ADDRESSES[0], -1n), RangeError);
    assert.throws(() => encodeApprove(ADDRESSES[0], 1n << 256n), RangeError);
    assert.throws(() => encodeApprove(ADDRESSES[0], "1.5"), SyntaxError);
  });

  it("decodes a uint256 return value", function () {
    assert.equal(decodeUint("0x"), 0n);
    assert.equal(decodeUint(`0x${"00".repeat(31)}2a`), 42n);
    assert.equal(decodeUint(`0x${"ff".repeat(32)}`), (1n << 256n) - 1n);
    assert.throws(() => decodeUint("zz"), TypeError);
  });
});
