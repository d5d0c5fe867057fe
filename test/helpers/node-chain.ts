import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from "viem";
import { ROOT, startLocalChain, type LocalChain } from "../../scripts/lib/local-chain.ts";

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function artifact(path: string): { abi: unknown[]; bytecode: Hex } {
  return JSON.parse(readFileSync(`${ROOT}artifacts/contracts/${path}`, "utf8")) as {
    abi: unknown[];
    bytecode: Hex;
  };
}

/**
 * A separate `hardhat node` process (for tests that cross process boundaries: crashes, RPC loss),
 * with the payment contract deployed from the compiled artifact.
 */
export async function startNodeChain() {
  const port = await freePort();
  const chain: LocalChain = await startLocalChain(port);
  const transport = http(chain.url, { retryCount: 0 });
  const client = createPublicClient({ transport, pollingInterval: 50 }) as PublicClient;
  const wallet = createWalletClient({ transport });
  const [owner, customer, merchant] = await wallet.getAddresses();
  if (!owner || !customer || !merchant) throw new Error("hardhat node has no dev accounts");
  const { abi, bytecode } = artifact("payments/PaymentProcessor.sol/PaymentProcessor.json");
  const hash = await wallet.deployContract({ abi, bytecode, args: [owner], account: owner, chain: null });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (!receipt.contractAddress) throw new Error("deployment failed");
  return {
    ...chain,
    port,
    client,
    wallet,
    owner,
    customer,
    merchant,
    contract: receipt.contractAddress,
    abi,
  };
}
