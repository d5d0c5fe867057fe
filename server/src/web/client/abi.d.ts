// Types of abi.js, the payment page's calldata encoder (plain JavaScript: browsers load it as is).
type Hex = `0x${string}`;

export declare const SELECTORS: Readonly<{
  pay: Hex;
  payToken: Hex;
  approve: Hex;
  allowance: Hex;
  balanceOf: Hex;
  cancel: Hex;
}>;
export declare function addressWord(address: string): string;
export declare function uintWord(value: bigint | string): string;
export declare function bytes32Word(value: string): string;
export declare function encodePay(merchant: string, orderId: string): Hex;
export declare function encodePayToken(
  token: string,
  amount: bigint | string,
  merchant: string,
  orderId: string,
): Hex;
export declare function encodeApprove(spender: string, amount: bigint | string): Hex;
export declare function encodeAllowance(owner: string, spender: string): Hex;
export declare function encodeBalanceOf(owner: string): Hex;
export declare function encodeCancel(id: bigint | string): Hex;
export declare function decodeUint(hex: string): bigint;
