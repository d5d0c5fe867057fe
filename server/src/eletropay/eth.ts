import { createHash, randomBytes } from "node:crypto";
import { enqueueCallbacks, type OutboxEntry } from "../callbacks/outbox.ts";
import { ETH_TOKEN } from "../chain/abi.ts";
import { callbackUrlFor, type EletroPayConfig } from "../config/eletropay.ts";
import type { ChainEvent } from "../chain/events.ts";
import type { Db, Queryable } from "../db/types.ts";
import { depositAddress, type DepositDerivation } from "../deposits/address.ts";
import { depositFlows, type DepositInflow } from "../deposits/flows.ts";
import type { TouchedDeposits } from "../deposits/events.ts";
import { depositActivity, registerDepositAddress } from "../deposits/repository.ts";
import type { Step } from "../indexer/types.ts";
import { badRequest, conflict, notFound } from "../lib/errors.ts";
import { findMerchantByEmail } from "../merchants/service.ts";
import { silentLogger, type Logger } from "./service.ts";
import { ELETROPAY_CALLBACK_KIND, eletropayCallbackBody } from "./watcher.ts";

/**
 * EletroPay for ETH and allowlisted tokens. `GET /v1/clients/:token/ETH` (or `/USDC`) hands out a
 * fresh CREATE2 deposit address of the merchant linked to the client: a random bytes32 reference
 * bound with the merchant's payout address (deposits/address.ts), registered as a watched deposit
 * address, so the indexer records what arrives there and any sweeper may sweep it to the merchant.
 * The sink below, applied after the order sink in the indexer's transaction, turns what the
 * deposits module recorded into EletroPay callbacks as confirmations grow.
 */

/** The chain EletroPay's ETH and token addresses live on (the default chain). */
export interface EletroPayEthChain {
  chainId: bigint;
  derivation: DepositDerivation;
  tokens: readonly { symbol: string; address: string; decimals: number }[];
  /** How long a fresh address is watched (DEPOSIT_WATCH_HOURS); afterwards while it holds ETH. */
  watchSeconds: number;
}

interface Asset {
  currency: string;
  token: string;
  decimals: number;
}

/** ETH and the chain's tokens by upper-case symbol (UTXO currency names are never shadowed). */
export function ethAssets(chain: EletroPayEthChain, reserved: readonly string[] = []): Map<string, Asset> {
  const assets = new Map<string, Asset>([["ETH", { currency: "ETH", token: ETH_TOKEN, decimals: 18 }]]);
  for (const t of chain.tokens) {
    const currency = t.symbol.toUpperCase();
    if (assets.has(currency) || reserved.includes(currency)) continue;
    assets.set(currency, { currency, token: t.address.toLowerCase(), decimals: t.decimals });
  }
  return assets;
}

// ---------------------------------------------------------------------------------------------
// The operator's link: client → merchant account + payout address.

export interface EletroPayLink {
  clientId: bigint;
  clientEmail: string;
  merchantId: bigint;
  merchantEmail: string;
  payoutAddress: string;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * Links an EletroPay client (its registered email, or its token) to a merchant account and the
 * payout address its ETH and token payments are credited to in the contract. Run by the operator
 * (`npm run merchant -- eletropay-link`); linking again replaces the link for addresses issued
 * afterwards (addresses already issued stay bound to what they were derived from).
 */
export async function linkEletroPayClient(
  db: Queryable,
  input: { merchantEmail: string; client: string; payoutAddress: string },
): Promise<EletroPayLink> {
  if (!ADDRESS.test(input.payoutAddress)) {
    throw badRequest("the payout address must be a 0x-prefixed 20-byte hex address", "invalid_address");
  }
  if (/^0x0{40}$/i.test(input.payoutAddress)) {
    throw badRequest("the payout address must not be the zero address", "invalid_address");
  }
  const merchant = await findMerchantByEmail(db, input.merchantEmail);
  if (!merchant) throw notFound(`no merchant with email ${input.merchantEmail}`, "merchant_not_found");
  const ref = input.client.trim().toLowerCase();
  const { rows: clients } = await db.query<{ id: bigint; email: string }>(
    /^[0-9a-f]{40}$/.test(ref)
      ? "SELECT id, email FROM eletropay_clients WHERE token_hash = $1"
      : "SELECT id, email FROM eletropay_clients WHERE email = $1",
    [/^[0-9a-f]{40}$/.test(ref) ? createHash("sha256").update(ref).digest("hex") : ref],
  );
  const client = clients[0];
  if (!client) throw notFound("no EletroPay client has this email or token", "unknown_client");
  const payout = input.payoutAddress.toLowerCase();
  await db.query(
    `INSERT INTO eletropay_links (client_id, merchant_id, payout_address) VALUES ($1, $2, $3)
     ON CONFLICT (client_id) DO UPDATE SET merchant_id = $2, payout_address = $3, updated_at = now()`,
    [client.id, merchant.id, payout],
  );
  return {
    clientId: client.id,
    clientEmail: client.email,
    merchantId: merchant.id,
    merchantEmail: merchant.email,
    payoutAddress: payout,
  };
}

// ---------------------------------------------------------------------------------------------
// Issuing addresses.

export interface IssuedEthAddress {
  currency: string;
  address: string;
  /** The random bytes32 bound in the address (the `orderId` a sweep passes). */
  orderRef: `0x${string}`;
}

/**
 * A fresh deposit address for `clientId` in `currency` (ETH or a token symbol): a random bytes32
 * reference, the address derived from the linked payout address, the watched deposit address and
 * EletroPay's row written in one transaction, before the API answers.
 */
export async function issueEthAddress(
  db: Db,
  chain: EletroPayEthChain,
  clientId: bigint,
  asset: Asset,
): Promise<IssuedEthAddress> {
  const { rows } = await db.query<{ merchant_id: bigint; payout_address: string }>(
    "SELECT merchant_id, payout_address FROM eletropay_links WHERE client_id = $1",
    [clientId],
  );
  const link = rows[0];
  if (!link) {
    throw conflict(
      `this client is not linked to a merchant account, so ${asset.currency} cannot be credited to anyone; ` +
        "the operator links it with `npm run merchant -- eletropay-link`",
      "client_not_linked",
    );
  }
  const orderRef = `0x${randomBytes(32).toString("hex")}` as `0x${string}`;
  const address = depositAddress(chain.derivation, link.payout_address, orderRef);
  await db.transaction(async (tx) => {
    await registerDepositAddress(tx, {
      chainId: chain.chainId,
      address,
      merchant: link.payout_address,
      orderRef,
      token: asset.token,
      watchSeconds: chain.watchSeconds,
    });
    await tx.query(
      `INSERT INTO eletropay_eth_addresses (chain_id, address, currency, token, decimals, client_id, merchant_id,
         payout_address, order_ref)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        chain.chainId,
        address,
        asset.currency,
        asset.token,
        asset.decimals,
        clientId,
        link.merchant_id,
        link.payout_address,
        orderRef,
      ],
    );
  });
  return { currency: asset.currency, address, orderRef };
}

// ---------------------------------------------------------------------------------------------
// Callbacks from deposit observations.

interface AddressRow {
  address: string;
  currency: string;
  token: string;
  decimals: number;
  client_id: bigint;
}

interface PaymentRow {
  address: string;
  pay_key: string;
  amount: string;
  txid: string;
  block_number: bigint;
  state: "block" | "vanished";
  reported_confirmations: number | null;
}

/** One payment as the chain shows it now: transfers of one transaction (or one block) summed. */
interface CurrentPayment {
  key: string;
  amount: bigint;
  blockNumber: bigint;
  txid: string;
}

export interface EletroPayDepositSinkOptions {
  config: EletroPayConfig;
  /** The chain's CONFIRMATIONS: the last count reported. */
  confirmations: number;
  /** The :key of a client's callback URL (ELETROPAY_CALLBACK_KEY, else its token). */
  callbackKeyFor(tx: Queryable, clientId: bigint): Promise<string>;
  log?: Logger;
}

/**
 * The indexer sink that follows EletroPay's ETH and token deposit addresses. It runs after the
 * deposits module, in the same transaction, takes the addresses it touched from it, and reads what
 * it recorded (never its tables directly). Per payment (a transaction's transfers to one address, or for ETH without a
 * transaction of its own, the block where it arrived):
 *  - one callback for every count from 1 (its own block) up to CONFIRMATIONS, in order, nothing
 *    skipped even when several blocks arrive in one step, nothing after;
 *  - the ETH of an internal transfer has no transaction: `txid` is empty until the sweep, and the
 *    sweep's hash is sent once it is mined (one more callback at the current count);
 *  - a reorg that removes the payment: no further callback (`vanished`, logged, in
 *    eletropay_events), as for a UTXO payment that vanished; mined again (same transaction), it
 *    is `revived` and reported from its new count; a lower count than last reported is sent then.
 */
export function eletropayDepositSink(options: EletroPayDepositSinkOptions): {
  apply(tx: Queryable, step: Step<ChainEvent>, touched: TouchedDeposits): Promise<void>;
} {
  const { config, confirmations: required } = options;
  const log = options.log ?? silentLogger;

  async function apply(tx: Queryable, step: Step<ChainEvent>, touched: TouchedDeposits): Promise<void> {
    if (step.type === "finalize") return;
    const chainId = step.chainId;
    let indexed: bigint;
    let candidates: string[];
    if (step.type === "block") {
      const last = step.blocks.at(-1);
      if (!last) return;
      indexed = last.number;
      const { rows } = await tx.query<{ address: string }>(
        `SELECT address FROM eletropay_eth_addresses WHERE chain_id = $1 AND address = ANY($2::text[])
         UNION
         SELECT address FROM eletropay_eth_payments WHERE chain_id = $1 AND NOT final AND state = 'block'`,
        [chainId, touched.addresses.map((a) => a.toLowerCase())],
      );
      candidates = rows.map((r) => r.address);
    } else {
      // The deposits module rolled its rows back (it ran first): payments past the
      // ancestor are gone or re-dated; the others keep their counts until the next blocks.
      indexed = step.ancestor.number;
      const { rows } = await tx.query<{ address: string }>(
        `SELECT DISTINCT address FROM eletropay_eth_payments
          WHERE chain_id = $1 AND state = 'block' AND block_number > $2`,
        [chainId, step.ancestor.number],
      );
      candidates = rows.map((r) => r.address);
    }
    if (candidates.length === 0) return;
    await follow(tx, chainId, indexed, candidates);
  }

  async function follow(tx: Queryable, chainId: bigint, indexed: bigint, addresses: string[]): Promise<void> {
    const { rows: owned } = await tx.query<AddressRow>(
      `SELECT address, currency, token, decimals, client_id FROM eletropay_eth_addresses
        WHERE chain_id = $1 AND address = ANY($2::text[]) ORDER BY address`,
      [chainId, addresses],
    );
    const activity = await depositActivity(
      tx,
      chainId,
      owned.map((a) => a.address),
    );
    const { rows: stored } = await tx.query<PaymentRow>(
      `SELECT address, pay_key, amount::text, txid, block_number, state, reported_confirmations
         FROM eletropay_eth_payments WHERE chain_id = $1 AND address = ANY($2::text[])
        ORDER BY address, pay_key FOR UPDATE`,
      [chainId, owned.map((a) => a.address)],
    );
    const storedBy = new Map(stored.map((p) => [`${p.address} ${p.pay_key}`, p]));
    const outbox: OutboxEntry[] = [];
    const keys = new Map<bigint, string>();
    const keyOf = async (clientId: bigint) => {
      let key = keys.get(clientId);
      if (key === undefined) keys.set(clientId, (key = await options.callbackKeyFor(tx, clientId)));
      return key;
    };

    for (const a of owned) {
      const flows = depositFlows(activity.get(a.address), a.token);
      const current = currentPayments(flows.inflows, flows.sweeps);
      const seen = new Set<string>();
      for (const p of current) {
        seen.add(p.key);
        if (p.blockNumber > indexed) continue;
        const count = Number(indexed - p.blockNumber + 1n);
        const capped = Math.min(count, required);
        const existing = storedBy.get(`${a.address} ${p.key}`);
        const where = { currency: a.currency, address: a.address, txid: p.txid || p.key };
        let toSend: number[];
        if (!existing) {
          // Every count from its own block on, even when several blocks arrived in one step.
          toSend = [];
          for (let n = 1; n <= capped; n++) toSend.push(n);
        } else if (existing.state === "vanished" || existing.reported_confirmations === null) {
          await event(
            tx,
            "revived",
            where,
            `seen again in block ${p.blockNumber} with ${capped} confirmations`,
          );
          log.warn({ ...where, confirmations: capped }, "vanished EletroPay payment is back");
          toSend = [capped];
        } else {
          const previous = existing.reported_confirmations;
          const moved = existing.block_number !== p.blockNumber;
          if (capped > previous) {
            toSend = [];
            for (let n = previous + 1; n <= capped; n++) toSend.push(n);
          } else if (moved && capped < previous) {
            await event(
              tx,
              "reorg",
              where,
              `confirmations ${previous} -> ${capped} (block ${p.blockNumber})`,
            );
            log.warn(
              { ...where, from: previous, to: capped },
              "EletroPay payment lost confirmations in a reorg",
            );
            toSend = [capped];
          } else if ((p.txid !== "" && p.txid !== existing.txid) || BigInt(existing.amount) !== p.amount) {
            // The sweep gave an internal transfer its transaction: say so at the count already sent.
            toSend = [previous];
          } else {
            toSend = [];
          }
        }
        const reported = toSend.at(-1) ?? existing?.reported_confirmations ?? capped;
        const txid = p.txid !== "" ? p.txid : (existing?.txid ?? "");
        await tx.query(
          `INSERT INTO eletropay_eth_payments (chain_id, address, pay_key, currency, amount, txid, block_number, state,
             reported_confirmations, final)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'block', $8, $9)
           ON CONFLICT (chain_id, address, pay_key) DO UPDATE SET
             amount = $5, txid = $6, block_number = $7, state = 'block', reported_confirmations = $8, final = $9,
             vanished_at = NULL, updated_at = now()`,
          [
            chainId,
            a.address,
            p.key,
            a.currency,
            p.amount.toString(),
            txid,
            p.blockNumber,
            reported,
            capped >= required,
          ],
        );
        if (toSend.length === 0) continue;
        const url = callbackUrlFor(config, await keyOf(a.client_id), a.currency);
        for (const n of toSend) {
          outbox.push({
            stream: `eletropay:${a.currency}:${chainId}:${a.address}:${p.key}`,
            kind: ELETROPAY_CALLBACK_KIND,
            url,
            body: eletropayCallbackBody(
              { amount: p.amount, confirmations: n, address: a.address, txid },
              a.decimals,
            ),
            secretRef: "eletropay",
          });
        }
      }
      // Payments the chain no longer has: a reorg removed them.
      for (const p of stored) {
        if (p.address !== a.address || p.state === "vanished" || seen.has(p.pay_key)) continue;
        const where = { currency: a.currency, address: a.address, txid: p.txid || p.pay_key };
        await tx.query(
          `UPDATE eletropay_eth_payments SET state = 'vanished', vanished_at = now(), updated_at = now()
            WHERE chain_id = $1 AND address = $2 AND pay_key = $3`,
          [chainId, a.address, p.pay_key],
        );
        await event(
          tx,
          "vanished",
          where,
          `reorged out of block ${p.block_number}; last reported ${p.reported_confirmations} confirmations; no further callbacks`,
        );
        log.error(
          { ...where, lastReported: p.reported_confirmations },
          "EletroPay payment vanished after a reorg: no further callbacks",
        );
      }
    }
    await enqueueCallbacks(tx, outbox);
  }

  return { apply };
}

async function event(
  tx: Queryable,
  kind: "vanished" | "reorg" | "revived",
  where: { currency: string; address: string; txid: string },
  detail: string,
) {
  await tx.query(
    "INSERT INTO eletropay_events (currency, kind, txid, address, detail) VALUES ($1, $2, $3, $4, $5)",
    [where.currency, kind, where.txid, where.address, detail],
  );
}

/**
 * The payments at one address as the chain shows them now. Token transfers of one transaction
 * are summed (as UTXO outputs of one transaction to one address are); an ETH inflow is keyed by
 * its transfer's hash, or by its block when it came without a transaction of its own, and then
 * reports the first sweep at or after it as its `txid` (empty until then).
 */
function currentPayments(
  inflows: readonly DepositInflow[],
  sweeps: readonly { blockNumber: bigint; txHash: string }[],
): CurrentPayment[] {
  const byKey = new Map<string, CurrentPayment>();
  for (const i of inflows) {
    const key = i.txHash ?? `block:${i.blockNumber}`;
    const txid = i.txHash ?? sweeps.find((s) => s.blockNumber >= i.blockNumber)?.txHash ?? "";
    const p = byKey.get(key);
    if (p) p.amount += i.amount;
    else byKey.set(key, { key, amount: i.amount, blockNumber: i.blockNumber, txid });
  }
  return [...byKey.values()];
}

/** Forgets EletroPay's ETH payments of a chain (a new local dev chain); issued addresses stay listed. */
export async function deleteChainEletroPayPayments(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM eletropay_eth_payments WHERE chain_id = $1", [chainId]);
}
