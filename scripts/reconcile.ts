/**
 * `npm run reconcile`: compares the merchant ledger mirrored from events (credited − withdrawn −
 * refunded) with balanceOf(merchant, token) on chain, for every merchant and token seen, and
 * exits non-zero on any mismatch. Needs RPC_URL (and DATABASE_URL, or the embedded database).
 */
import { createPublicClient, http } from "viem";
import { readIgnitionDeployment } from "../server/src/chain/deployment.ts";
import { loadConfig } from "../server/src/config/index.ts";
import { createDb } from "../server/src/db/index.ts";
import { reconcile } from "../server/src/ledger/reconcile.ts";

try {
  const config = loadConfig();
  const rpcUrl = config.rpcUrl ?? "http://127.0.0.1:8545";
  const client = createPublicClient({ transport: http(rpcUrl) });
  const chainId = await client.getChainId();
  const contract = config.contractAddress ?? readIgnitionDeployment(chainId).paymentProcessor;
  if (!contract) throw new Error("set CONTRACT_ADDRESS (no Ignition deployment found for this chain)");
  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const report = await reconcile(db, client, BigInt(chainId), contract);
  await db.close();
  for (const row of report.rows) {
    const mark = row.ok ? "ok      " : "MISMATCH";
    console.log(`${mark} ${row.merchant} ${row.token} ledger=${row.ledger} chain=${row.onChain}`);
  }
  console.log(
    `${report.rows.length} balances checked at block ${report.blockNumber}, ${report.mismatches} mismatches`,
  );
  if (report.mismatches > 0) process.exit(1);
} catch (error) {
  console.error(`reconcile: ${(error as Error).message}`);
  process.exit(1);
}
