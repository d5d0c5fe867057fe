import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import QRCode from "qrcode";
import { notFound } from "../../lib/errors.ts";
import type { PaymentMethodsService } from "../../payment-methods/service.ts";
import { requireMerchant } from "../auth.ts";
import { ErrorSchema } from "../schemas.ts";

const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema };
const CoinParams = Type.Object({
  coin: Type.String({ pattern: "^[A-Za-z]{3,5}$", description: "LTC, BTC or DASH" }),
});
const XpubSchema = Type.Object({
  coin: Type.String(),
  xpub: Type.String({ description: "The account-level extended public key (watch-only)" }),
  next_index: Type.Integer({ description: "The receive index m/0/i the next order gets" }),
});

/**
 * Payment methods: one method's QR code (`payment_methods[].qr_code`, public by order id like the
 * order's own), and the merchant's xpubs for UTXO coins (PUT/GET/DELETE /user/xpubs/:coin).
 */
export const paymentMethodRoutes: FastifyPluginAsyncTypebox<{
  methods: Pick<PaymentMethodsService, "qrUri" | "setXpub" | "xpubs" | "deleteXpub">;
}> = async (app, { methods }) => {
  app.get(
    "/order/:id/methods/:method/qr.svg",
    {
      config: { nonJson: true },
      schema: {
        tags: ["orders"],
        summary: "QR code (SVG) with the payment URI of one of the order's payment methods",
        params: Type.Object({
          id: Type.String({ pattern: "^[0-9]{1,16}$" }),
          method: Type.String({
            minLength: 2,
            maxLength: 60,
            description: 'The method\'s id, e.g. "USDC@8453"',
          }),
        }),
      },
    },
    async (request, reply) => {
      const { id, method } = request.params;
      const uri = await methods.qrUri(BigInt(id), method);
      if (uri === undefined) {
        throw notFound(`order ${id} has no payment method ${method}`, "payment_method_not_found");
      }
      reply.header("content-type", "image/svg+xml").header("cache-control", "no-cache");
      // As the order's own QR code (server/src/web/pay-page.ts).
      return QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2, width: 320 });
    },
  );

  app.put(
    "/user/xpubs/:coin",
    {
      schema: {
        tags: ["user"],
        summary: "Register the account's extended public key for a UTXO coin",
        description:
          "Orders then offer the coin as a payment method, each at the next receive address m/0/i of this key. Watch-only: the server never holds a private key, and payments go straight to the merchant's wallet.",
        params: CoinParams,
        body: Type.Object(
          { xpub: Type.String({ minLength: 100, maxLength: 120 }) },
          { additionalProperties: false },
        ),
        response: { 200: XpubSchema, ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      return methods.setXpub(merchant.id, request.params.coin, request.body.xpub);
    },
  );

  app.get(
    "/user/xpubs",
    {
      schema: {
        tags: ["user"],
        summary: "The account's extended public keys for UTXO coins",
        response: { 200: Type.Object({ xpubs: Type.Array(XpubSchema) }), ...errors },
      },
    },
    async (request) => ({ xpubs: await methods.xpubs(requireMerchant(request).id) }),
  );

  app.delete(
    "/user/xpubs/:coin",
    {
      schema: {
        tags: ["user"],
        summary: "Stop offering a UTXO coin: forget the account's extended public key for it",
        params: CoinParams,
        response: { 200: Type.Object({ deleted: Type.Boolean() }), ...errors },
      },
    },
    async (request) => ({
      deleted: await methods.deleteXpub(requireMerchant(request).id, request.params.coin),
    }),
  );
};
