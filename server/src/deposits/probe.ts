import { BaseError, encodeDeployData, keccak256, stringToHex, type PublicClient } from "viem";
import type { DepositReuse } from "../chain/module.ts";
import { SWEEP_PROBE_CREATION_CODE, sweepProbeAbi } from "../chain/probes.ts";
import { firstLine } from "../lib/errors.ts";
import { depositsAbi } from "./abi.ts";
import { depositAddress, type DepositDerivation } from "./address.ts";

/** The probe's (merchant, order): never a real order (no one can own this merchant address). */
const PROBE_MERCHANT = "0x00000000000000000000000000000000ee678000" as const;
const PROBE_ORDER = keccak256(stringToHex("ethereum-pos:start-up probe of deposit address reuse"));
/** The simulated sender of the probe's creations (no balance needed: nothing carries value). */
const PROBE_SENDER = "0x00000000000000000000000000000000ee678001" as const;

/** An RPC error that says the node does not offer a method (as opposed to a failure of the call). */
export function isUnsupportedMethod(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === -32601 || code === -32004) return true;
    const message = (current as { message?: unknown }).message;
    if (
      typeof message === "string" &&
      /method .*(not (supported|found|available|exist))|(not supported|unsupported|unknown|does not exist).*method|method not found/i.test(
        message,
      )
    )
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Deposit sweeps rely on the deposit account being deleted at the end of its sweep's transaction
 * (EIP-6780 keeps SELFDESTRUCT deleting an account created in the same transaction): only then can the
 * same address be created, and so swept, again for a top-up or the next period of a subscription.
 * Within one transaction the account is never deleted yet, so the check needs two simulated
 * transactions:
 * 1. the contract's `depositAddressOf` must equal the off-chain derivation;
 * 2. `eth_simulateV1` (geth, Nethermind, Besu, Erigon, Reth and most providers): two transactions, each
 *    creating `SweepProbe`, which sweeps the same deposit address; the second must succeed;
 * 3. else `debug_traceCall` with the prestate tracer's diff (Hardhat/EDR, archive and debug nodes): one
 *    such transaction; the deposit account must not be in the post-state.
 * Transport errors are thrown (the caller retries them); a node without either method gives `unknown`.
 */
export async function probeDepositReuse(
  client: PublicClient,
  derivation: DepositDerivation,
): Promise<DepositReuse> {
  const { processor } = derivation;
  const expected = depositAddress(derivation, PROBE_MERCHANT, PROBE_ORDER);
  const onChain = await client.readContract({
    address: processor,
    abi: depositsAbi,
    functionName: "depositAddressOf",
    args: [PROBE_MERCHANT, PROBE_ORDER],
  });
  if (onChain.toLowerCase() !== expected) {
    return {
      state: "broken",
      reason:
        `the contract's depositAddressOf gives ${onChain} where this server derives ${expected} ` +
        `(chain id ${derivation.chainId}): payments to the server's addresses could never be swept`,
    };
  }
  const data = encodeDeployData({
    abi: sweepProbeAbi,
    bytecode: SWEEP_PROBE_CREATION_CODE,
    args: [processor, PROBE_MERCHANT, PROBE_ORDER],
  });
  const call = { from: PROBE_SENDER, data };

  // One sweep must work at all (a paused contract, for one, refuses sweeps): else nothing can be said.
  try {
    await client.call({ account: PROBE_SENDER, data });
  } catch (error) {
    if (!isRevert(error)) throw error;
    return { state: "unknown", reason: `a simulated sweep reverted (${firstLine(error)})` };
  }

  const request = (method: string, params: unknown[]) =>
    client.request({ method: method as never, params: params as never }) as Promise<unknown>;
  try {
    const blocks = (await request("eth_simulateV1", [
      { blockStateCalls: [{ calls: [call, call] }], validation: false },
      "latest",
    ])) as { calls: { status: string; error?: { message?: string } }[] }[];
    const [first, second] = blocks[0]?.calls ?? [];
    if (first?.status !== "0x1") {
      return {
        state: "unknown",
        reason: `the first simulated sweep failed (${first?.error?.message ?? "no reason given"})`,
      };
    }
    if (second?.status === "0x1") return { state: "ok", how: "eth_simulateV1" };
    return {
      state: "broken",
      reason:
        "a deposit address could not be swept a second time: SELFDESTRUCT does not delete the deposit account " +
        `(EIP-6780), so every later payment to a swept address would be stuck (${second?.error?.message ?? "the second sweep failed"})`,
    };
  } catch (error) {
    if (!isUnsupportedMethod(error)) throw error;
  }
  try {
    const trace = (await request("debug_traceCall", [
      call,
      "latest",
      { tracer: "prestateTracer", tracerConfig: { diffMode: true } },
    ])) as { post?: Record<string, unknown> };
    const kept = Object.keys(trace.post ?? {}).some((address) => address.toLowerCase() === expected);
    if (!kept) return { state: "ok", how: "debug_traceCall" };
    return {
      state: "broken",
      reason:
        "the deposit account outlives its sweep: SELFDESTRUCT does not delete it (EIP-6780), so every later " +
        "payment to a swept address would be stuck",
    };
  } catch (error) {
    if (!isUnsupportedMethod(error)) throw error;
  }
  return {
    state: "unknown",
    reason:
      "the node offers neither eth_simulateV1 nor debug_traceCall, so two sweeps could not be simulated",
  };
}

/** The call reached the EVM and reverted (a definite answer, never retried). */
export function isRevert(error: unknown): boolean {
  if (error instanceof BaseError) {
    const found = error.walk((e) => {
      const name = (e as Error).name;
      return (
        name === "ContractFunctionRevertedError" ||
        name === "ContractFunctionZeroDataError" ||
        name === "ExecutionRevertedError" ||
        /execution reverted|revert/i.test((e as Error).message)
      );
    });
    if (found) return true;
  }
  return /execution reverted|reverted/i.test((error as Error)?.message ?? "");
}
