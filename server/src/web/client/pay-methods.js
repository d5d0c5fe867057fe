// The payment page's methods: picking one shows its QR code, address, amount and rate
// (server/src/web/pay-methods.ts renders the list and the first method's panel).
const data = JSON.parse(document.getElementById("pay-methods-data")?.textContent ?? "null");
const $ = (id) => document.getElementById(id);
const fill = (template, vars) =>
  template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? vars[name] : whole));

function show(index) {
  const m = data.methods[index];
  if (!m) return;
  const t = data.messages;
  for (const button of document.querySelectorAll("#pay-methods .method")) {
    button.setAttribute("aria-pressed", String(button.dataset.index === String(index)));
  }
  $("method-qr").src = m.qr;
  $("method-qr").alt = fill(t.qrAlt, { amount: m.amount, coin: m.token, address: m.address });
  $("method-send").textContent = fill(t.send, { amount: m.amount, coin: m.token });
  $("method-address").textContent = m.address;
  $("method-amount").textContent = `${m.amount} ${m.token}`;
  $("method-rate").textContent = fill(t.rate, { rate: m.rate, coin: m.token });
  $("method-paid").textContent = fill(t.received, { amount: m.paid, coin: m.token });
  $("method-paid").hidden = m.paid === "0";
  $("method-open").href = m.uri;
}

if (data) {
  for (const button of document.querySelectorAll("#pay-methods .method")) {
    button.addEventListener("click", () => show(Number(button.dataset.index)));
  }
}
