// Bundles the browser scripts of the merchant console and the point of sale
// (server/src/web/client/{console,pos}.ts → server/src/web/client/dist/*.js) with esbuild:
// ES modules, minified, only the viem functions they import. `npm run build` (npm test,
// typecheck) and `npm start` run it; prints each bundle's size and gzip size.
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const entries = ["console", "pos"];
const outdir = "server/src/web/client/dist";

export async function buildWeb(log = true): Promise<{ name: string; bytes: number; gzip: number }[]> {
  await build({
    entryPoints: entries.map((e) => `server/src/web/client/${e}.ts`),
    outdir,
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022"],
    platform: "browser",
    legalComments: "none",
    logLevel: "warning",
  });
  const sizes = entries.map((name) => {
    const body = readFileSync(`${outdir}/${name}.js`);
    return { name: `${name}.js`, bytes: body.length, gzip: gzipSync(body).length };
  });
  if (log) {
    for (const s of sizes)
      console.log(
        `web: ${s.name} ${(s.bytes / 1024).toFixed(1)} KiB (${(s.gzip / 1024).toFixed(1)} KiB gzip)`,
      );
  }
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) await buildWeb();
