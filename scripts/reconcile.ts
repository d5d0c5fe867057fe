/**
 * `npm run reconcile`: compares the merchant ledger mirrored from events (credited − withdrawn −
 * refunded) with balanceOf(merchant, token) on chain, for every merchant and token seen, on every
 * configured chain, and exits non-zero on any mismatch. Needs RPC_URL (or the CHAIN_<NAME>_*
 * settings; single chain without RPC_URL: the local node at 127.0.0.1:8545) and DATABASE_URL, or the
 * embedded database.
 */
import { createPublicClient, http } from "viem";
import { IGNITION_DEPLOYMENTS_DIR, readIgnitionDeployment } from "../server/src/chain/deployment.ts";
import { loadConfig } from "../server/src/config/index.ts";
import { createDb } from "../server/src/db/index.ts";
import { reconcile } from "../server/src/ledger/reconcile.ts";

try {
  const config = loadConfig();
  const db = await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  let mismatches = 0;
  try {
    for (const chain of config.chains) {
      const rpcUrl = chain.rpcUrl ?? "http://127.0.0.1:8545";
      const client = createPublicClient({ transport: http(rpcUrl) });
      const chainId = await client.getChainId();
      const label = chain.name ? `${chain.name} (chain ${chainId})` : `chain ${chainId}`;
      // Run by hand next to a deployment: chain-<id> is read on a local chain too (the server does not).
      const deployment = chain.ignitionDeploymentDir ?? `${IGNITION_DEPLOYMENTS_DIR}/chain-${chainId}`;
      const contract = chain.contractAddress ?? readIgnitionDeployment(deployment).paymentProcessor;
      if (!contract) throw new Error(`${label}: set its contract address (no Ignition deployment found)`);
      const report = await reconcile(db, client, BigInt(chainId), contract);
      for (const row of report.rows) {
        const mark = row.ok ? "ok      " : "MISMATCH";
        console.log(
          `${mark} ${label} ${row.merchant} ${row.token} ledger=${row.ledger} chain=${row.onChain}`,
        );
      }
      console.log(
        `${label}: ${report.rows.length} balances checked at block ${report.blockNumber}, ${report.mismatches} mismatches`,
      );
      mismatches += report.mismatches;
    }
  } finally {
    await db.close();
  }
  if (mismatches > 0) process.exit(1);
} catch (error) {
  console.error(`reconcile: ${(error as Error).message}`);
  process.exit(1);
}
