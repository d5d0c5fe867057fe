import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * One local server that speaks three public rate APIs as documented:
 * - Coinbase `GET /v2/exchange-rates?currency=ETH` (https://docs.cdp.coinbase.com/coinbase-app/docs/api-exchange-rates):
 *   `{"data":{"currency":"ETH","rates":{"USD":"3012.45",…}}}`, rates as decimal strings; an unknown
 *   currency is 400 `{"errors":[{"id":"invalid_request","message":"Invalid currency"}]}`.
 * - Kraken `GET /0/public/Ticker?pair=XETHZUSD` (https://docs.kraken.com/api/docs/rest-api/get-ticker-information):
 *   `{"error":[],"result":{"XETHZUSD":{"a":[…],"b":[…],"c":["3012.45000","0.01"],…}}}`; an unknown
 *   pair is `{"error":["EQuery:Unknown asset pair"]}` (HTTP 200, as Kraken answers).
 * - Frankfurter `GET /latest?from=EUR&to=USD` (https://frankfurter.dev): `{"amount":1.0,"base":"EUR",
 *   "date":"2026-12-04","rates":{"USD":1.0825}}`, rates as JSON numbers; unknown: 404 `{"message":"not found"}`.
 * Each answer carries a Date header. Per API and pair (`set("coinbase", "ETH/USD", …)`) a test
 * chooses the rate, or an error (`status`), a stale answer (`ageSeconds`: a cache's Age header;
 * for Frankfurter an old `date`), or a timeout (`delayMs` before answering).
 */
export type RateApi = "coinbase" | "kraken" | "frankfurter";

export interface RateAnswer {
  /** The rate as the API writes it ("3012.45"). */
  rate?: string;
  /** Answer this HTTP status with the API's error body instead. */
  status?: number;
  /** Coinbase/Kraken: a cached answer this many seconds old (Age header). */
  ageSeconds?: number;
  /** Frankfurter: the ECB reference date of the answer ("2026-12-04"); default today. */
  date?: string;
  /** Wait this long before answering (a timeout when above the client's RATE_TIMEOUT_MS). */
  delayMs?: number;
}

export interface RateApis {
  url: string;
  set(api: RateApi, pair: string, answer: RateAnswer): void;
  /** Requests received, as "api pair". */
  requests: string[];
  close(): Promise<void>;
}

const KRAKEN_NAMES: Record<string, string> = {
  XETHZUSD: "ETH/USD",
  XXBTZUSD: "BTC/USD",
  XLTCZUSD: "LTC/USD",
  USDCUSD: "USDC/USD",
  ZEURZUSD: "EUR/USD",
  ZGBPZUSD: "GBP/USD",
};

export async function startRateApis(): Promise<RateApis> {
  const answers = new Map<string, RateAnswer>();
  const requests: string[] = [];
  const send = (res: ServerResponse, status: number, text: string, age?: number) => {
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      date: new Date().toUTCString(),
      ...(age ? { age: String(age) } : {}),
    });
    res.end(text);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let api: RateApi;
    let pair: string;
    if (url.pathname === "/v2/exchange-rates") {
      api = "coinbase";
      pair = `${(url.searchParams.get("currency") ?? "").toUpperCase()}/USD`;
    } else if (url.pathname === "/0/public/Ticker") {
      api = "kraken";
      pair = KRAKEN_NAMES[url.searchParams.get("pair") ?? ""] ?? "?";
    } else if (url.pathname === "/latest") {
      api = "frankfurter";
      pair = `${url.searchParams.get("from")}/${url.searchParams.get("to")}`;
    } else {
      send(res, 404, JSON.stringify({ message: "not found" }));
      return;
    }
    requests.push(`${api} ${pair}`);
    const answer = answers.get(`${api} ${pair}`);
    const reply = () => {
      if (res.destroyed) return;
      const [base] = pair.split("/");
      if (!answer?.rate || answer.status) {
        const status = answer?.status ?? (api === "kraken" ? 200 : api === "coinbase" ? 400 : 404);
        const body =
          api === "coinbase"
            ? { errors: [{ id: "invalid_request", message: "Invalid currency" }] }
            : api === "kraken"
              ? { error: [status === 200 ? "EQuery:Unknown asset pair" : "EService:Unavailable"] }
              : { message: "not found" };
        send(res, status, JSON.stringify(body));
        return;
      }
      if (api === "coinbase") {
        const body = { data: { currency: base, rates: { USD: answer.rate, EUR: "0.9" } } };
        send(res, 200, JSON.stringify(body), answer.ageSeconds);
      } else if (api === "kraken") {
        const name = url.searchParams.get("pair") as string;
        const r = answer.rate;
        const body = {
          error: [],
          result: {
            [name]: {
              a: [r, "1", "1.000"],
              b: [r, "1", "1.000"],
              c: [r, "0.01000000"],
              v: ["100.0", "200.0"],
              p: [r, r],
              t: [10, 20],
              l: [r, r],
              h: [r, r],
              o: r,
            },
          },
        };
        send(res, 200, JSON.stringify(body), answer.ageSeconds);
      } else {
        // A JSON number written exactly as given (Frankfurter's rates are numbers, not strings).
        const date = answer.date ?? new Date().toISOString().slice(0, 10);
        send(
          res,
          200,
          `{"amount":1.0,"base":"${base}","date":"${date}","rates":{"USD":${answer.rate}}}`,
          answer.ageSeconds,
        );
      }
    };
    if (answer?.delayMs) setTimeout(reply, answer.delayMs);
    else reply();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (api, pair, answer) => void answers.set(`${api} ${pair}`, answer),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
