import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { defineMessages, LOCALES, pickLocale, toLocale, translate } from "../../server/src/web/i18n/index.ts";

describe("page languages", function () {
  it("takes ?lang= first, then Accept-Language by quality, then the merchant's default, then English", function () {
    assert.equal(pickLocale({ query: "es", acceptLanguage: "pt-BR,pt;q=0.9", fallback: "en" }), "es");
    assert.equal(pickLocale({ query: "xx", acceptLanguage: "pt-BR,pt;q=0.9", fallback: "es" }), "pt-BR");
    assert.equal(pickLocale({ acceptLanguage: "de-DE,de;q=0.9,es;q=0.8,en;q=0.5" }), "es");
    assert.equal(pickLocale({ acceptLanguage: "en;q=0.2,pt;q=0.9" }), "pt-BR");
    assert.equal(pickLocale({ acceptLanguage: "de-DE,fr;q=0.5", fallback: "es" }), "es");
    assert.equal(pickLocale({ acceptLanguage: "", fallback: "pt-BR" }), "pt-BR");
    assert.equal(pickLocale({ acceptLanguage: "*" }), "en");
    assert.equal(pickLocale({}), "en");
  });

  it("reads regional and differently written tags as the supported locale", function () {
    assert.equal(toLocale("pt"), "pt-BR");
    assert.equal(toLocale("pt_br"), "pt-BR");
    assert.equal(toLocale("PT-PT"), "pt-BR");
    assert.equal(toLocale("es-419"), "es");
    assert.equal(toLocale("EN-gb"), "en");
    assert.equal(toLocale("de"), null);
    assert.equal(toLocale(""), null);
    assert.deepEqual([...LOCALES], ["en", "pt-BR", "es"]);
  });

  it("fills placeholders and leaves unknown ones visible", function () {
    const messages = defineMessages({
      en: { due: "{amount} due in {minutes} min" },
      "pt-BR": { due: "{amount} a pagar em {minutes} min" },
      es: { due: "{amount} a pagar en {minutes} min" },
    });
    assert.equal(
      translate(messages, "pt-BR", "due", { amount: "0.5 ETH", minutes: 3 }),
      "0.5 ETH a pagar em 3 min",
    );
    assert.equal(translate(messages, "es", "due", { amount: "1 USDC" }), "1 USDC a pagar en {minutes} min");
  });
});
