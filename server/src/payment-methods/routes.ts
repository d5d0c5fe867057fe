import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { notFound } from "../lib/errors.ts";
import QRCode from "qrcode";
import type { PaymentMethodsService } from "./service.ts";

/**
 * The QR code of one of an order's payment methods (`payment_methods[].qr_code`): public by order
 * id, like the order's own QR code.
 */
export const paymentMethodRoutes: FastifyPluginAsyncTypebox<{
  methods: Pick<PaymentMethodsService, "qrUri">;
}> = async (app, { methods }) => {
  app.get(
    "/order/:id/methods/:method/qr.svg",
    {
      config: { nonJson: true },
      schema: {
        tags: ["orders"],
        summary: "QR code (SVG) with the EIP-681 plain-transfer URI of one of the order's payment methods",
        params: Type.Object({
          id: Type.String({ pattern: "^[0-9]{1,16}$" }),
          method: Type.String({
            minLength: 4,
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
};
