import { defineMessages } from "../index.ts";

/** The payment page's list of payment methods (server/src/web/pay-methods.ts, client/pay-methods.js). */
export const payMethodsMessages = defineMessages({
  en: {
    heading: "Choose how to pay",
    intro: "Every option below pays this order. Payments in several of them add up.",
    onChain: "{coin} on {chain}",
    default: "suggested",
    send: "Send exactly {amount} {coin} to this address.",
    address: "Address",
    amount: "Amount",
    rate: "Rate locked until the order expires: {rate} USD per {coin}",
    openWallet: "Open in wallet app",
    qrAlt: "QR code: send {amount} {coin} to {address}",
    received: "Received: {amount} {coin}",
  },
  "pt-BR": {
    heading: "Escolha como pagar",
    intro: "Qualquer opção abaixo paga este pedido. Pagamentos feitos em mais de uma se somam.",
    onChain: "{coin} na rede {chain}",
    default: "sugerida",
    send: "Envie exatamente {amount} {coin} para este endereço.",
    address: "Endereço",
    amount: "Valor",
    rate: "Cotação garantida até o pedido expirar: {rate} USD por {coin}",
    openWallet: "Abrir no app da carteira",
    qrAlt: "Código QR: envie {amount} {coin} para {address}",
    received: "Recebido: {amount} {coin}",
  },
  es: {
    heading: "Elige cómo pagar",
    intro: "Cualquiera de estas opciones paga este pedido. Los pagos hechos en varias se suman.",
    onChain: "{coin} en la red {chain}",
    default: "sugerida",
    send: "Envía exactamente {amount} {coin} a esta dirección.",
    address: "Dirección",
    amount: "Importe",
    rate: "Tipo de cambio fijado hasta que venza el pedido: {rate} USD por {coin}",
    openWallet: "Abrir en la app de la billetera",
    qrAlt: "Código QR: envía {amount} {coin} a {address}",
    received: "Recibido: {amount} {coin}",
  },
});
