import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "mocha";
import { network } from "hardhat";
import { bytesToHex } from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { DEV_ACCOUNTS, DEV_MNEMONIC, devAccountLines } from "../../scripts/lib/dev-accounts.ts";

/**
 * The README asks a newcomer to import dev account #2 into a browser wallet, but no key was
 * printed anywhere. `npm start`'s banner and the README now list the public Hardhat test keys,
 * marked as public: each is checked here against the mnemonic and the local chain's accounts.
 */
describe("dev accounts: the public test keys npm start lists", function () {
  it("each key is account i of Hardhat's public test mnemonic and signs for its address", function () {
    assert.equal(DEV_ACCOUNTS.length, 10);
    DEV_ACCOUNTS.forEach((account, i) => {
      const derived = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });
      assert.equal(derived.address, account.address, `#${i} address`);
      assert.equal(bytesToHex(derived.getHdKey().privateKey as Uint8Array), account.privateKey, `#${i} key`);
      assert.equal(privateKeyToAccount(account.privateKey).address, account.address, `#${i}`);
    });
  });

  it("they are the accounts the local Hardhat chain funds, in its order", async function () {
    const connection = await network.create();
    try {
      const signers = await connection.ethers.getSigners();
      assert.deepEqual(
        signers.slice(0, DEV_ACCOUNTS.length).map((s) => s.address),
        DEV_ACCOUNTS.map((a) => a.address),
      );
    } finally {
      await connection.close();
    }
  });

  it("the banner lists each account with its key, under a warning that the keys are public", function () {
    const lines = devAccountLines(
      DEV_ACCOUNTS.slice(0, 5).map((a) => ({ address: a.address.toLowerCase(), balance: "10000" })),
    );
    const text = lines.join("\n");
    assert.match(text, /PUBLIC test keys/);
    assert.match(text, /never send real funds/);
    DEV_ACCOUNTS.slice(0, 5).forEach((a, i) =>
      assert.ok(lines.includes(`    #${i} ${a.address}  10000 ETH  key ${a.privateKey}`), `#${i}: ${text}`),
    );
    assert.deepEqual(devAccountLines([{ address: "0x" + "ab".repeat(20), balance: "1" }]).slice(2), [
      `    0x${"ab".repeat(20)}  1 ETH`,
    ]);
    // npm start prints these lines (scripts/dev.ts).
    assert.match(readFileSync(new URL("../../scripts/dev.ts", import.meta.url), "utf8"), /devAccountLines\(/);
  });

  it("the README lists the keys it asks the reader to import, marked as public test keys", function () {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    assert.match(readme, /public test keys/i);
    for (const i of [0, 1, 2, 9]) {
      const account = DEV_ACCOUNTS[i] as (typeof DEV_ACCOUNTS)[number];
      assert.ok(readme.includes(account.privateKey), `README lists #${i}'s key`);
      assert.ok(readme.includes(account.address), `README lists #${i}'s address`);
    }
  });
});
