/** What the server-rendered pages (payment, subscription, console, terminal) share. */

/** Text made safe for HTML element content and quoted attribute values. */
export const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

/** JSON inside <script type="application/json">: no "<" may end the element early. */
export const scriptJson = (value: unknown) =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

/**
 * A whole page: the document head every page has (no referrer, no favicon request, light colour
 * scheme), its title (plain text, escaped here) and same-origin stylesheets under /assets/, then
 * `body` (HTML) as it is, in the document language `lang`.
 */
export function htmlPage(page: {
  title: string;
  stylesheets: readonly string[];
  body: string;
  /** The page's language (a BCP 47 tag such as "pt-BR"); English when not given. */
  lang?: string;
}): string {
  return `<!doctype html>
<html lang="${escapeHtml(page.lang ?? "en")}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(page.title)}</title>
<link rel="icon" href="data:,">
${page.stylesheets.map((name) => `<link rel="stylesheet" href="/assets/${name}">`).join("\n")}
</head>
<body>
${page.body}
</body>
</html>`;
}
