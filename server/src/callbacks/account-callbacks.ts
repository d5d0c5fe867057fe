import type { AddressLinkedSubscriber, LinkedVia } from "../merchants/addresses.ts";
import { insertCallback } from "./outbox.ts";

/** The body of an `account.address_linked` callback (signed like every callback). */
export interface AddressLinkedBody {
  type: "notification";
  event: "account.address_linked";
  to: string | null;
  text: string;
  order_id: null;
  status: null;
  address: `0x${string}`;
  via: LinkedVia;
  linked_at: string;
}

/**
 * The merchant's `account.address_linked` callback: a wallet newly linked to the account is
 * announced at once to the merchant's notify URL, queued in the linking transaction
 * (docs/callbacks.md). It is a security message: sent whatever the plugins, and not counted
 * against the TXT Messaging limit. Nothing is queued when the merchant has no notify URL.
 */
export const addressLinkedCallback: AddressLinkedSubscriber = async (tx, linked) => {
  if (!linked.notifyUrl) return;
  const { merchantId, address } = linked;
  const body: AddressLinkedBody = {
    type: "notification",
    event: "account.address_linked",
    to: linked.notifyPhone,
    text: `Ethereum POS: wallet ${address.slice(0, 6)}…${address.slice(-4)} was linked to your account. Not you? Unlink it in the console and have your API key rotated.`,
    order_id: null,
    status: null,
    address,
    via: linked.via,
    linked_at: linked.linkedAt.toISOString(),
  };
  await insertCallback(tx, {
    stream: `account:${merchantId}`,
    kind: "account.address_linked",
    url: linked.notifyUrl,
    body: JSON.stringify(body),
    secretRef: `merchant:${merchantId}`,
    merchantId,
  });
};
