/** The point-of-sale terminal's page (/pos): the shell pos.js fills in (client/pos.ts). Served by console-page.ts. */

export const POS_BODY = `<main class="pos" aria-labelledby="pos-title">
  <header class="bar">
    <p class="brand"><span class="logo" aria-hidden="true"></span><span id="pos-title">Point of sale</span></p>
    <p id="who" class="who" hidden><span id="who-name"></span> <button id="sign-out" type="button" class="link">Sign out</button></p>
  </header>
  <p id="error" class="wallet-error" role="alert"></p>
  <section id="signin" class="panel" aria-labelledby="signin-title" hidden>
    <h1 id="signin-title">Sign in this terminal</h1>
    <form id="key-form" class="row">
      <label for="terminal-key">Terminal key</label>
      <input id="terminal-key" type="password" autocomplete="off" placeholder="epos_term_…" required>
      <button type="submit" class="primary">Sign in</button>
    </form>
    <p class="muted">Or sign in to the <a href="/console">console</a> on this device.</p>
  </section>
  <section id="keypad-screen" class="panel" aria-labelledby="amount-title" hidden>
    <h1 id="amount-title" class="sr-only">Amount</h1>
    <p class="pos-amount" aria-live="polite">$<output id="pos-amount">0.00</output></p>
    <div class="row" id="callback-row" hidden>
      <label for="pos-callback">Callback URL</label>
      <input id="pos-callback" type="url" placeholder="https://shop.example/ethpos">
    </div>
    <div class="row" id="token-row">
      <label for="pos-token">Pay in</label>
      <select id="pos-token"></select>
    </div>
    <div class="keypad" role="group" aria-label="Keypad">
      ${["1", "2", "3", "4", "5", "6", "7", "8", "9", "C", "0", "⌫"]
        .map(
          (k) =>
            `<button type="button" class="key" data-key="${k}" aria-label="${k === "C" ? "Clear" : k === "⌫" ? "Delete" : k}">${k}</button>`,
        )
        .join("")}
    </div>
    <button id="charge" class="primary" type="button" disabled>Charge</button>
  </section>
  <section id="qr-screen" class="panel qr-screen" aria-labelledby="qr-title" hidden>
    <h1 id="qr-title" class="sr-only">Scan to pay</h1>
    <p class="pos-due"><span id="qr-amount"></span></p>
    <img id="pos-qr" alt="" width="320" height="320">
    <p id="qr-state" class="pos-state" role="status" aria-live="polite" data-tone="waiting">Waiting for payment</p>
    <p class="muted small">Order <span id="qr-order"></span> · <a id="qr-link" href="#">open payment page</a></p>
    <button id="new-sale" class="primary" type="button">New sale</button>
  </section>
</main>`;
