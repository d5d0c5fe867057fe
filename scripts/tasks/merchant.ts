// Merchant command-line tasks: check a balance, withdraw, refund, signed with the merchant's own key.
//
//   npx hardhat merchant:balance  --network sepolia --token usdc
//   npx hardhat merchant:withdraw --network sepolia --token eth  --amount 0.5 --to 0xYourColdWallet
//   npx hardhat merchant:refund   --network sepolia --token usdc --amount 12.5 --order-id 4242424242 --to 0xCustomer \
//     --api https://pay.example.com
//
// The key is read through Hardhat's configuration variables: from the encrypted keystore
// (`npx hardhat keystore set MERCHANT_PRIVATE_KEY`) or, failing that, from the environment variable of
// the same name. `--key-var` picks another variable (one per merchant wallet). The operator's deployer key
// is never used for these.
//
// A refund names its order on chain by the order's `reference`, so merchant:refund first looks the order up on
// the server (`--api`, with the API key in MERCHANT_API_KEY when the order was made with one) and refuses,
// before anything is signed, an id or reference that is no order of this merchant's address.
//
// Against `npm start`'s local chain use `--network localhost`: its URL is read from .data/dev-stack.json
// (so a DEV_CHAIN_PORT given to npm start is followed); LOCAL_RPC_URL=http://… overrides it. The server
// there is found the same way, so `--api` is not needed.
import { task } from "hardhat/config";

const TOKEN = {
  name: "token",
  description: 'Token: "eth", "usdc" (the stablecoin of the LocalDev deployment) or an ERC-20 address',
  defaultValue: "eth",
} as const;
const PROCESSOR = {
  name: "processor",
  description: "PaymentProcessor address (default: ignition/deployments/chain-<id>/deployed_addresses.json)",
  defaultValue: "",
} as const;
const KEY_VAR = {
  name: "keyVar",
  description: "Configuration variable (keystore entry or env var) holding the merchant's private key",
  defaultValue: "MERCHANT_PRIVATE_KEY",
} as const;
const RAW = { name: "raw", description: "Read --amount in the smallest unit (wei, 10^-6 USDC)" } as const;

export const merchantBalanceTask = task(
  "merchant:balance",
  "Show a merchant's balance in the PaymentProcessor",
)
  .addOption(TOKEN)
  .addOption(PROCESSOR)
  .addOption(KEY_VAR)
  .addOption({
    name: "merchant",
    description: "Merchant address (default: the address of the key in --key-var)",
    defaultValue: "",
  })
  .setAction(() => import("./merchant-actions.ts").then((m) => ({ default: m.balanceAction })))
  .build();

export const merchantWithdrawTask = task("merchant:withdraw", "Withdraw from your merchant balance")
  .addOption(TOKEN)
  .addOption(PROCESSOR)
  .addOption(KEY_VAR)
  .addOption({
    name: "amount",
    description: 'Amount in token units, e.g. "12.5", or "all"',
    defaultValue: "",
  })
  .addOption({ name: "to", description: "Recipient (default: the merchant's own address)", defaultValue: "" })
  .addFlag(RAW)
  .setAction(() => import("./merchant-actions.ts").then((m) => ({ default: m.withdrawAction })))
  .build();

export const merchantRefundTask = task("merchant:refund", "Refund an order from your merchant balance")
  .addOption(TOKEN)
  .addOption(PROCESSOR)
  .addOption(KEY_VAR)
  .addOption({ name: "amount", description: 'Amount in token units, e.g. "12.5"', defaultValue: "" })
  .addOption({ name: "to", description: "Recipient of the refund (the customer)", defaultValue: "" })
  .addOption({
    name: "orderId",
    description:
      "The server's order id (the `id` of GET /order/:id), or the order's `reference` (0x + 64 hex digits, needs the API key)",
    defaultValue: "",
  })
  .addOption({
    name: "api",
    description:
      "The server's URL, where the order is looked up (default: npm start's, from .data/dev-stack.json)",
    defaultValue: "",
  })
  .addOption({
    name: "apiKeyVar",
    description:
      "Configuration variable (keystore entry or env var) holding the merchant's API key; needed for orders made with one",
    defaultValue: "MERCHANT_API_KEY",
  })
  .addFlag(RAW)
  .setAction(() => import("./merchant-actions.ts").then((m) => ({ default: m.refundAction })))
  .build();

export const merchantTasks = [merchantBalanceTask, merchantWithdrawTask, merchantRefundTask];
