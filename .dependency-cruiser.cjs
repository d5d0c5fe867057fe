/**
 * The layering of server/src, checked by `npm run lint:deps` (see "Layering" in the README):
 * the indexer core knows no domain, domain modules know no HTTP, routes run no SQL, and
 * nothing imports in a circle (type-only imports included), neither module to module nor
 * folder to folder. Around it: the product imports no test, benchmark or script (the harness in
 * test/support/ imports the product, never the reverse), and scripts take from test/ only the
 * harness (the dev stack runs the tests' callback receiver).
 * @type {import('dependency-cruiser').IConfiguration}
 */
const DOMAIN = "^server/src/(orders|ledger|merchants|callbacks|notify|utxo|pricing|recurring)/";
const ELETROPAY_DOMAIN = "^server/src/eletropay/(service|watcher|config)\\.ts$";
const ROUTE_FILES = "^server/src/(api/routes/|web/)|^server/src/[^/]+/routes\\.ts$";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No import circles in server/src, type-only ones included: a shared type belongs in the lower module.",
      from: { path: "^server/src/" },
      to: { circular: true },
    },
    {
      name: "no-folder-cycles",
      severity: "error",
      comment:
        "No circles between folders either: a module (orders, merchants, callbacks, api…) may use another only if that one never uses it back, through any chain of folders. Move the piece that reads across modules up (to api/), or the shared type down.",
      scope: "folder",
      from: { path: "^server/src" },
      to: { circular: true },
    },
    {
      name: "indexer-core-is-domain-free",
      severity: "error",
      comment:
        "The indexer core (rpc, sync, steps, sources, sink interface) imports no domain module, no HTTP layer and not the payment contract's ABI: domain sources and sinks plug into it.",
      from: { path: "^server/src/indexer/" },
      to: {
        path: [
          "^server/src/(orders|ledger|callbacks|notify|merchants|api|web|eletropay)/",
          "^server/src/chain/abi\\.ts$",
        ],
      },
    },
    {
      name: "sender-is-policy-free",
      comment:
        "The transaction sender (nonce, fees, signing, recording, following, fee bumps) imports none of the modules that send through it: what to send and when is theirs.",
      severity: "error",
      from: { path: "^server/src/sender/" },
      to: {
        path: "^server/src/(token-subscriptions|deposits|orders|ledger|recurring|eletropay|callbacks|notify|merchants|api|web|runtime)/",
      },
    },
    {
      name: "domain-knows-no-http",
      severity: "error",
      comment:
        "Domain modules import no route, no API or web module: the HTTP layer calls them, never the reverse.",
      from: { path: [DOMAIN, ELETROPAY_DOMAIN], pathNot: "/routes\\.ts$" },
      to: { path: ["^server/src/(api|web)/", "/routes\\.ts$", "^server/src/app\\.ts$"] },
    },
    {
      name: "routes-run-no-sql",
      severity: "error",
      comment: "Route files call services; only the modules that own the tables touch the database.",
      from: { path: ROUTE_FILES },
      to: { path: "^server/src/db/" },
    },
    {
      name: "product-imports-no-harness",
      severity: "error",
      comment:
        "server/src is the product: it imports nothing from test/ (the harness included), bench/ or scripts/. The harness imports the product, never the reverse.",
      from: { path: "^server/src/" },
      to: { path: "^(test|bench|scripts)/" },
    },
    {
      name: "scripts-use-only-the-harness",
      severity: "error",
      comment:
        "From test/, scripts/ (the dev stack, operator tasks) may import only the harness package test/support/, never a test or a test helper.",
      from: { path: "^scripts/" },
      to: { path: "^test/", pathNot: "^test/support/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that resolves to nothing is a typo or a missing dependency.",
      from: { path: "^server/src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    // Type-only imports count: they make circles too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      extensions: [".ts", ".js", ".json"],
      conditionNames: ["import", "require", "node", "default"],
      exportsFields: ["exports"],
    },
  },
};
