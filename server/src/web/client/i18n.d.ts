// Types of i18n.js (plain JavaScript: browsers load it as is; the server and pos.ts import it).
export declare function fill(template: string, vars?: Readonly<Record<string, string | number>>): string;
export declare function formatAmount(decimal: string, locale: string): string;
export declare function message(
  messages: Readonly<Record<string, string>>,
  locale: string,
  key: string,
  vars?: Readonly<Record<string, string | number>>,
  amounts?: Readonly<Record<string, string>>,
): string;
export declare function formatCountdown(seconds: number, locale: string): string;
export declare function formatDateTime(iso: string, locale: string, timeZone?: string): string;
export declare function formatDate(iso: string, locale: string): string;
export declare function fillNodes<N>(template: string, nodes: Readonly<Record<string, N>>): (string | N)[];
