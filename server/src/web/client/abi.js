// Calldata for the few fixed calls the payment and subscription pages make, without a bundler or a library: a
// 4-byte selector followed by one 32-byte word per argument (every argument here is static:
// address, uint256 or bytes32). test/server/web-pay-uri.test.ts checks each against viem.

export const SELECTORS = Object.freeze({
  pay: "0x46f8f304", // pay(address,bytes32)
  payToken: "0xfa8579d5", // payToken(address,uint256,address,bytes32)
  approve: "0x095ea7b3", // approve(address,uint256)
  allowance: "0xdd62ed3e", // allowance(address,address)
  balanceOf: "0x70a08231", // balanceOf(address)
  cancel: "0x40e58ee5", // cancel(uint256), on the Subscriptions contract
});

const MAX_UINT256 = (1n << 256n) - 1n;

/** An address as a word: 12 zero bytes, then its 20 bytes. */
export function addressWord(address) {
  if (typeof address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw new TypeError(`not an address: ${String(address)}`);
  }
  return address.slice(2).toLowerCase().padStart(64, "0");
}

/** A uint256 (a bigint or a decimal string) as a big-endian word. */
export function uintWord(value) {
  const n = typeof value === "bigint" ? value : BigInt(value);
  if (n < 0n || n > MAX_UINT256) throw new RangeError(`not a uint256: ${String(value)}`);
  return n.toString(16).padStart(64, "0");
}

/** A bytes32 as a word. */
export function bytes32Word(value) {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(value)) {
    throw new TypeError(`not a bytes32: ${String(value)}`);
  }
  return value.slice(2).toLowerCase();
}

/** pay(merchant, orderId): the ETH payment, sent with the amount as value. */
export const encodePay = (merchant, orderId) => SELECTORS.pay + addressWord(merchant) + bytes32Word(orderId);

/** payToken(token, amount, merchant, orderId): the token payment, after an approval. */
export const encodePayToken = (token, amount, merchant, orderId) =>
  SELECTORS.payToken + addressWord(token) + uintWord(amount) + addressWord(merchant) + bytes32Word(orderId);

/** approve(spender, amount) on the token. */
export const encodeApprove = (spender, amount) => SELECTORS.approve + addressWord(spender) + uintWord(amount);

/** allowance(owner, spender) on the token (an eth_call). */
export const encodeAllowance = (owner, spender) =>
  SELECTORS.allowance + addressWord(owner) + addressWord(spender);

/** cancel(id) on the Subscriptions contract: from the customer (or the merchant), it stops every later collect. */
export const encodeCancel = (id) => SELECTORS.cancel + uintWord(id);

/** balanceOf(owner) on the token (an eth_call). */
export const encodeBalanceOf = (owner) => SELECTORS.balanceOf + addressWord(owner);

/** A uint256 return value ("0x" + one word) as a bigint; "0x" (no code there) reads as 0. */
export function decodeUint(hex) {
  if (typeof hex !== "string" || !/^0x[0-9a-fA-F]*$/.test(hex)) throw new TypeError("not hex data");
  return hex === "0x" ? 0n : BigInt(hex.slice(0, 66));
}
