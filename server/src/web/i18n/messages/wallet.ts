/**
 * A browser wallet's errors in words (client/injected-wallets.js), shared by the payment page's and
 * the subscription page's catalogues: each spreads these into its own.
 */
export const WALLET_MESSAGES = {
  en: {
    wallet_declined: "You declined the request in your wallet. Nothing was sent.",
    wallet_busy:
      "Your wallet already has a request open: open the wallet, finish or dismiss it, then try again.",
    wallet_denied: "The wallet did not allow this page to use your account. Unlock the wallet and try again.",
    wallet_error: "Your wallet reported an error: {text}",
    wallet_reverted: "The transaction {hash} failed on chain (it was reverted).",
    wallet_default_name: "browser wallet",
    wallet_no_account: "Your wallet shared no account with this page.",
    wallet_approve_connection: "Waiting for your wallet: approve the connection…",
    wallet_switching: "Asking your wallet to switch to {network}…",
  },
  "pt-BR": {
    wallet_declined: "Você recusou a solicitação na carteira. Nada foi enviado.",
    wallet_busy:
      "Sua carteira já tem uma solicitação aberta: abra a carteira, conclua ou descarte a solicitação e tente de novo.",
    wallet_denied:
      "A carteira não permitiu que esta página usasse sua conta. Desbloqueie a carteira e tente de novo.",
    wallet_error: "Sua carteira informou um erro: {text}",
    wallet_reverted: "A transação {hash} falhou na rede (foi revertida).",
    wallet_default_name: "carteira do navegador",
    wallet_no_account: "Sua carteira não compartilhou nenhuma conta com esta página.",
    wallet_approve_connection: "Aguardando sua carteira: aprove a conexão…",
    wallet_switching: "Pedindo à sua carteira para mudar para {network}…",
  },
  es: {
    wallet_declined: "Rechazaste la solicitud en tu billetera. No se envió nada.",
    wallet_busy:
      "Tu billetera ya tiene una solicitud abierta: abre la billetera, complétala o descártala y vuelve a intentarlo.",
    wallet_denied:
      "La billetera no permitió que esta página usara tu cuenta. Desbloquea la billetera y vuelve a intentarlo.",
    wallet_error: "Tu billetera informó un error: {text}",
    wallet_reverted: "La transacción {hash} falló en la red (fue revertida).",
    wallet_default_name: "billetera del navegador",
    wallet_no_account: "Tu billetera no compartió ninguna cuenta con esta página.",
    wallet_approve_connection: "Esperando a tu billetera: aprueba la conexión…",
    wallet_switching: "Pidiendo a tu billetera que cambie a {network}…",
  },
} as const;
