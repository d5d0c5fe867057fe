import { parseAbi, serializeTransaction, type PublicClient } from "viem";
import type { L1DataFeeModel } from "../config/presets.ts";

/*
 * The L1 data fee of an L2 transaction: what the chain charges for posting its bytes to Ethereum,
 * on top of its L2 execution gas. On an OP-stack chain it is a separate charge (the receipt's
 * l1Fee) that eth_estimateGas does not show; on Arbitrum it is folded into the gas limit
 * eth_estimateGas returns (the "extra buffer" B). The gas-share rule of the sweeper and the
 * collector counts it either way (docs/chains.md, "L2 fees").
 */

/** OP-stack GasPriceOracle predeploy. */
export const OP_GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F" as const;
/** Arbitrum's NodeInterface: no code, answered by the node for eth_call. */
export const ARBITRUM_NODE_INTERFACE = "0x00000000000000000000000000000000000000C8" as const;

export const gasPriceOracleAbi = parseAbi([
  "function getL1Fee(bytes _data) view returns (uint256)",
  "function getL1FeeUpperBound(uint256 _unsignedTxSize) view returns (uint256)",
  "function isFjord() view returns (bool)",
]);

export const nodeInterfaceAbi = parseAbi([
  "function gasEstimateL1Component(address to, bool contractCreation, bytes data) payable returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate)",
  "function gasEstimateComponents(address to, bool contractCreation, bytes data) payable returns (uint64 gasEstimate, uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate)",
]);

/** A transaction as it would be signed, for its L1 data fee. */
export interface L1FeeRequest {
  chainId: bigint;
  nonce: number;
  to: `0x${string}`;
  data: `0x${string}`;
  value?: bigint;
  /** The gas limit that would be signed. */
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface L1Fee {
  /** The L1 data fee in wei. */
  wei: bigint;
  /**
   * The part of an eth_estimateGas answer that already pays it (Arbitrum's buffer B; 0 on OP
   * stacks): the L2 execution gas is the estimate minus this.
   */
  gasInEstimate: bigint;
}

export interface L1DataFee {
  readonly model: Exclude<L1DataFeeModel, "none">;
  estimate(request: L1FeeRequest): Promise<L1Fee>;
}

/**
 * OP stack: GasPriceOracle.getL1Fee(unsigned RLP-encoded transaction). The oracle adds the
 * signature's bytes itself; since Fjord it estimates the compressed size with FastLZ.
 */
export function opL1DataFee(client: PublicClient): L1DataFee {
  return {
    model: "op",
    async estimate(r) {
      const unsigned = serializeTransaction({
        type: "eip1559",
        chainId: Number(r.chainId),
        nonce: r.nonce,
        to: r.to,
        data: r.data,
        value: r.value ?? 0n,
        gas: r.gas,
        maxFeePerGas: r.maxFeePerGas,
        maxPriorityFeePerGas: r.maxPriorityFeePerGas,
      });
      const wei = await client.readContract({
        address: OP_GAS_PRICE_ORACLE,
        abi: gasPriceOracleAbi,
        functionName: "getL1Fee",
        args: [unsigned],
      });
      return { wei, gasInEstimate: 0n };
    },
  };
}

/** NodeInterface.gasEstimateComponents' answer, as Arbitrum's gas estimation how-to names its parts. */
export interface ArbitrumGasComponents {
  /** gasEstimate: L2 execution gas plus the L1 buffer (what eth_estimateGas answers). */
  gasEstimate: bigint;
  /** gasEstimateForL1: the buffer B, in L2 gas. */
  gasEstimateForL1: bigint;
  /** baseFee: the L2 gas price P. */
  baseFee: bigint;
  /** l1BaseFeeEstimate: ArbOS's view of the L1 base fee. */
  l1BaseFeeEstimate: bigint;
}

/** Bytes Arbitrum adds to every transaction's posted size for its fixed part (the how-to's 140). */
export const ARBITRUM_TX_FIXED_BYTES = 140n;
/** L1 gas per posted byte: L1P = l1BaseFeeEstimate × 16. */
export const ARBITRUM_L1_GAS_PER_BYTE = 16n;

/**
 * The formula of Arbitrum's "How to estimate gas in Arbitrum"
 * (https://docs.arbitrum.io/build-decentralized-apps/how-to-estimate-gas):
 * TXFEES = P × (L2G + (L1P × L1S) / P), with P = baseFee, L2G = gasEstimate − gasEstimateForL1,
 * L1P = l1BaseFeeEstimate × 16, L1S = gasEstimateForL1 × P / L1P, L1C = L1P × L1S, B = L1C / P.
 */
export function arbitrumFeeBreakdown(c: ArbitrumGasComponents) {
  const P = c.baseFee;
  const L2G = c.gasEstimate - c.gasEstimateForL1;
  const L1P = c.l1BaseFeeEstimate * ARBITRUM_L1_GAS_PER_BYTE;
  const L1S = L1P === 0n ? 0n : (c.gasEstimateForL1 * P) / L1P;
  const L1C = L1P * L1S;
  const B = P === 0n ? 0n : L1C / P;
  const G = L2G + B;
  return { P, L2G, L1P, L1S, L1C, B, G, TXFEES: P * G };
}

/**
 * The L1 cost of posting `sizeBytes` of (compressed) transaction data, and the buffer B in L2 gas
 * at the L2 gas price `P` (rounded up: the gas limit must cover it).
 */
export function arbitrumL1Cost(l1BaseFeeEstimate: bigint, sizeBytes: bigint, P: bigint) {
  const L1C = l1BaseFeeEstimate * ARBITRUM_L1_GAS_PER_BYTE * sizeBytes;
  return { L1C, B: P === 0n ? 0n : (L1C + P - 1n) / P };
}

/**
 * Arbitrum: NodeInterface.gasEstimateL1Component(to, false, data) gives the buffer B (in L2 gas)
 * and the L2 gas price P; the L1 fee is B × P. eth_estimateGas already includes B.
 */
export function arbitrumL1DataFee(client: PublicClient): L1DataFee {
  return {
    model: "arbitrum",
    async estimate(r) {
      const { result } = await client.simulateContract({
        address: ARBITRUM_NODE_INTERFACE,
        abi: nodeInterfaceAbi,
        functionName: "gasEstimateL1Component",
        args: [r.to, false, r.data],
      });
      const [gasEstimateForL1, baseFee] = result;
      return { wei: gasEstimateForL1 * baseFee, gasInEstimate: gasEstimateForL1 };
    },
  };
}

/** The chain's L1 data fee reader, or undefined on a chain that has none (L1_DATA_FEE=none). */
export function l1DataFeeFor(model: L1DataFeeModel, client: PublicClient): L1DataFee | undefined {
  switch (model) {
    case "op":
      return opL1DataFee(client);
    case "arbitrum":
      return arbitrumL1DataFee(client);
    case "none":
      return undefined;
    default: {
      const never: never = model;
      throw new Error(`unknown L1 data fee model ${String(never)}`);
    }
  }
}
