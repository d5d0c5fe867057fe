import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { stringify } from "csv-stringify";
import { Readable, pipeline } from "node:stream";
import { badRequest } from "../../lib/errors.ts";
import type { DateRange } from "../../lib/range.ts";
import { requireMerchant } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { EXPORT_KINDS, type ExportKind, type ExportRow } from "../export-service.ts";
import { ErrorSchema } from "../schemas.ts";

const FORMS =
  "a date (2026-01-31) or a date-time in UTC (2026-01-31T12:00:00Z; seconds and milliseconds optional)";
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z$/;

/**
 * Parses `from` or `to`: an ISO 8601 date (midnight UTC) or a date-time in UTC (with Z). A value
 * that is malformed or names no real time (2026-02-30, 24:00) is a 400 naming the parameter.
 */
export function parseExportTime(name: "from" | "to", value: string | undefined): Date | null {
  if (value === undefined) return null;
  const m = DATE.exec(value) ?? DATE_TIME.exec(value);
  const wrong = () => badRequest(`${name} must be ${FORMS}; got "${value.slice(0, 40)}"`, `invalid_${name}`);
  if (!m) throw wrong();
  const [y, mo, d, h = "0", mi = "0", s = "0", ms = "0"] = m.slice(1).map((x) => x ?? undefined);
  const parts = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = parts;
  const millis = Number(ms.padEnd(3, "0"));
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC rolls over (Feb 30 becomes Mar 2): a value that does not come back unchanged is no real time.
  if (
    year < 1970 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  )
    throw wrong();
  return date;
}

export function parseExportRange(query: { from?: string | undefined; to?: string | undefined }): DateRange {
  const from = parseExportTime("from", query.from);
  const to = parseExportTime("to", query.to);
  if (from && to && from.getTime() > to.getTime()) {
    throw badRequest(
      `from (${from.toISOString()}) is after to (${to.toISOString()}); from is inclusive and to exclusive`,
      "invalid_range",
    );
  }
  return { from, to };
}

/** `payments_2026-01-01_2026-02-01.csv`; an open side reads "start" or "now". */
export function exportFilename(kind: ExportKind, range: DateRange): string {
  const part = (date: Date | null, open: string) => {
    if (!date) return open;
    const text = date.toISOString();
    return text.endsWith("T00:00:00.000Z")
      ? text.slice(0, 10)
      : text.replace(/\.000Z$/, "Z").replace(/:/g, "");
  };
  return `${kind}_${part(range.from, "start")}_${part(range.to, "now")}.csv`;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema };

/**
 * GET /export/<kind>.csv (docs/exports.md): the merchant's rows of one kind, oldest first, as CSV,
 * with the API key or a console session. The first page is read before the answer starts, so a
 * database that is down is a clean error; later pages stream through csv-stringify. Should a later
 * page fail, the answer is cut off (no final chunk), never ended as if the file were whole.
 */
export const exportRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const exports = deps.exports;
  if (!exports) return;
  for (const kind of EXPORT_KINDS) {
    app.get(
      `/export/${kind}.csv`,
      {
        // A browser's download link sends Accept: text/html,…: no JSON Accept check here.
        config: { nonJson: true },
        schema: {
          tags: ["exports"],
          summary: `Export ${kind.replace("-", " ")} as CSV (docs/exports.md)`,
          querystring: Type.Object(
            {
              from: Type.Optional(Type.String({ maxLength: 64, description: `Inclusive; ${FORMS}` })),
              to: Type.Optional(Type.String({ maxLength: 64, description: `Exclusive; ${FORMS}` })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: {
              description: "CSV (RFC 4180, UTF-8 with a byte order mark), a header row first",
              content: { "text/csv": { schema: Type.String() } },
            },
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const merchant = requireMerchant(request);
        const range = parseExportRange(request.query);
        const pages = exports.pages(kind, merchant.id, range);
        const first = await pages.next();
        async function* rows(): AsyncGenerator<ExportRow> {
          if (first.done) return;
          yield* first.value;
          for await (const page of pages) yield* page;
        }
        const csv = stringify({
          header: true,
          columns: [...exports.columns(kind)],
          bom: true,
          // OWASP's CSV injection advice: a cell starting with = + - @ tab or CR gets a leading '.
          escape_formulas: true,
        });
        pipeline(Readable.from(rows()), csv, (error) => {
          if (error)
            request.log.error(
              { err: error, export: kind },
              "export stopped part-way; the answer was cut off",
            );
        });
        reply
          .header("content-type", "text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="${exportFilename(kind, range)}"`)
          .header("cache-control", "no-store");
        // The response schema describes the CSV text; what is sent is the stream that writes it.
        return reply.send(csv as unknown as string);
      },
    );
  }
};
