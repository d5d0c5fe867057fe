import { network } from "hardhat";
import { createPublicClient, custom, type PublicClient } from "viem";

/**
 * An in-process Hardhat (EDR) chain with the payment contract deployed, plus a viem client on
 * the same provider, so the server under test reads the very chain the test writes to.
 */
export async function createTestChain() {
  const connection = await network.create();
  const { ethers } = connection;
  const [owner, customer, merchant, other] = await ethers.getSigners();
  if (!owner || !customer || !merchant || !other) throw new Error("expected at least 4 dev accounts");
  const processor = await ethers.deployContract("PaymentProcessor", [owner.address]);
  await processor.waitForDeployment();
  const stablecoin = await ethers.deployContract("MockStablecoin");
  await stablecoin.waitForDeployment();
  await (await processor.getFunction("setTokenAllowed")(await stablecoin.getAddress(), true)).wait();
  const client = createPublicClient({
    transport: custom({
      request: (args: { method: string; params?: unknown }) => connection.provider.request(args as never),
    }),
    pollingInterval: 50,
  }) as PublicClient;
  // evm_mine gives real, linked blocks (hardhat_mine creates placeholders with a zero parentHash).
  const mine = async (blocks: number) => {
    for (let i = 0; i < blocks; i++) await connection.provider.request({ method: "evm_mine", params: [] });
  };
  return {
    connection,
    ethers,
    client,
    owner,
    customer,
    merchant,
    other,
    processor,
    stablecoin,
    contractAddress: (await processor.getAddress()) as `0x${string}`,
    stablecoinAddress: (await stablecoin.getAddress()) as `0x${string}`,
    mine,
    close: () => connection.close(),
  };
}
