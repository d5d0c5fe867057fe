import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { formatAmount, formatCountdown } from "../../server/src/web/client/i18n.js";
import {
  defineMessages,
  LOCALES,
  pickLocale,
  toLocale,
  translate,
  type Catalogue,
} from "../../server/src/web/i18n/index.ts";
import { CHAIN_MESSAGES } from "../../server/src/web/i18n/messages/chains.ts";
import { PAY_MESSAGES } from "../../server/src/web/i18n/messages/pay.ts";
import { chainName, chainNameIn } from "../../server/src/web/pay-view.ts";
import { POS_MESSAGES } from "../../server/src/web/i18n/messages/pos.ts";
import { SUBSCRIPTION_MESSAGES } from "../../server/src/web/i18n/messages/subscription.ts";

/** Every page's catalogue (server/src/web/i18n/messages/). */
const CATALOGUES: Record<string, Catalogue<string>> = {
  pay: PAY_MESSAGES,
  subscription: SUBSCRIPTION_MESSAGES,
  pos: POS_MESSAGES,
  chains: CHAIN_MESSAGES,
};

/**
 * Messages that are rightly the same in English and another language: names, loanwords and
 * formats. Anything else left identical is an untranslated message.
 */
const SAME_AS_ENGLISH: Record<string, readonly string[]> = {
  // "Token" is the word in Portuguese and Spanish too.
  "pay.detail_token": ["pt-BR", "es"],
  // "Terminal" is spelt the same in all three.
  "pos.terminal": ["pt-BR", "es"],
  "pos.terminal_name": ["pt-BR", "es"],
};

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

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

  for (const [page, catalogue] of Object.entries(CATALOGUES)) {
    it(`${page}: every message in every language, with the same placeholders, and none left in English`, function () {
      const keys = Object.keys(catalogue.en).sort();
      assert.ok(keys.length >= 4, `${page} has its messages`);
      for (const locale of LOCALES) {
        const messages = catalogue[locale] as Record<string, string>;
        assert.deepEqual(Object.keys(messages).sort(), keys, `${page} ${locale}: the same keys as English`);
        for (const key of keys) {
          const text = messages[key] as string;
          assert.ok(text.trim() !== "", `${page}.${key} (${locale}) is empty`);
          assert.deepEqual(
            placeholders(text),
            placeholders(catalogue.en[key] as string),
            `${page}.${key} (${locale}): the same placeholders as English`,
          );
          if (locale === "en") continue;
          const allowed = SAME_AS_ENGLISH[`${page}.${key}`]?.includes(locale) ?? false;
          assert.equal(
            text === catalogue.en[key],
            allowed,
            allowed
              ? `${page}.${key} (${locale}) is on the allowlist but now differs from English: take it off`
              : `${page}.${key} (${locale}) is still in English: "${text}"`,
          );
        }
      }
    });
  }

  it("writes exact amounts with the locale's separators, never through a float", function () {
    assert.equal(formatAmount("1234567.000000000000000001", "en"), "1,234,567.000000000000000001");
    assert.equal(formatAmount("1234567.000000000000000001", "pt-BR"), "1.234.567,000000000000000001");
    assert.equal(formatAmount("12345.5", "es"), "12.345,5");
    // Spanish groups from five digits.
    assert.equal(formatAmount("1234.5", "es"), "1234,5");
    assert.equal(formatAmount("99999999999999999999.99", "en"), "99,999,999,999,999,999,999.99");
    assert.equal(formatAmount("0.10", "pt-BR"), "0,10", "trailing zeros are kept as given");
    assert.equal(formatAmount("-3.25", "pt-BR"), "-3,25");
    assert.equal(formatAmount("not a number", "es"), "not a number");
    assert.equal(formatCountdown(125, "pt-BR"), "02:05");
    assert.equal(formatCountdown(-4, "en"), "00:00");
  });

  it("names chains in each language, and in English exactly as chainName does", function () {
    for (const id of [
      1, 11155111, 17000, 8453, 84532, 42161, 421614, 10, 11155420, 137, 80002, 31337, 1337, 999,
    ]) {
      assert.equal(chainNameIn(id, "en"), chainName(id), `chain ${id}`);
    }
    assert.equal(chainNameIn(31337, "pt-BR"), "Hardhat (local)");
    assert.equal(chainNameIn(11155111, "es"), "Sepolia (de pruebas)");
    assert.equal(chainNameIn(999, "es"), "n.º 999");
    assert.equal(chainNameIn(8453, "pt-BR"), "Base");
  });
});
