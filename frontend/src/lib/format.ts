// Money and dates for people: Intl in the viewer's locale and time zone. Amounts arrive as exact decimal
// strings ("12.50") and are handed to Intl as strings, so no binary float ever rounds them.

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function formatMoney(amount: string | null | undefined, currency: string, locale?: string): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const key = `${locale ?? ""}|${currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(locale, { style: "currency", currency });
    } catch {
      format = new Intl.NumberFormat(locale, { minimumFractionDigits: 2 });
    }
    moneyFormats.set(key, format);
  }
  // A string argument is read exactly (Intl.NumberFormat v3); the type only lists number | bigint.
  return format.format(amount as unknown as number);
}

/** Units and rates: as many decimals as the API sent, grouped for the locale. */
export function formatDecimal(value: string | null | undefined, locale?: string): string {
  if (value === null || value === undefined || value === "") return "—";
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 20 }).format(value as unknown as number);
}

export function formatDateTime(value: string | null | undefined, locale?: string): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function formatDate(value: string | null | undefined, locale?: string): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(date);
}

export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** "ACTIVE" → "Active", "PAST_DUE" → "Past due". */
export function humanize(value: string): string {
  const words = value.toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const unitPriceFormats = new Map<string, Intl.NumberFormat>();

/** A unit price ("0.000125"): the currency's symbol, every decimal the price has (Intl rounds to cents otherwise). */
export function formatUnitPrice(amount: string | null | undefined, currency: string, locale?: string): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const key = `${locale ?? ""}|${currency}`;
  let format = unitPriceFormats.get(key);
  if (!format) {
    try {
      format = new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 12 });
    } catch {
      format = new Intl.NumberFormat(locale, { maximumFractionDigits: 12 });
    }
    unitPriceFormats.set(key, format);
  }
  return format.format(amount as unknown as number);
}

/** The exact sum of decimal strings ("49" + "12.50" = "61.50"): scaled integers, never a binary float. */
export function addDecimals(...values: string[]): string {
  const parts = values.map((v) => {
    const negative = v.trim().startsWith("-");
    const [whole, fraction = ""] = v.trim().replace(/^[-+]/, "").split(".");
    return { negative, whole: whole || "0", fraction };
  });
  const scale = Math.max(0, ...parts.map((p) => p.fraction.length));
  let total = BigInt(0);
  for (const p of parts) {
    const scaled = BigInt(p.whole + p.fraction.padEnd(scale, "0"));
    total += p.negative ? -scaled : scaled;
  }
  const negative = total < BigInt(0);
  const digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** a − b for exact decimal strings ("49.00" − "20" → "29.00"), with no float in between. */
export function subtractDecimal(a: string, b: string): string {
  const scale = Math.max(decimals(a), decimals(b));
  const difference = scaled(a, scale) - scaled(b, scale);
  const negative = difference < BigInt(0);
  const digits = (negative ? -difference : difference).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

function decimals(value: string): number {
  const point = value.indexOf(".");
  return point < 0 ? 0 : value.length - point - 1;
}

function scaled(value: string, scale: number): bigint {
  const [whole, fraction = ""] = value.trim().split(".");
  return BigInt(whole + fraction.padEnd(scale, "0"));
}

/** "1 invoice", "2 invoices": `noun` is written in the plural; for one, its first plural word is made singular
 * ("entries" → "entry", "staff users" → "staff user", "invoices with a failed payment" → "invoice with …"). */
export function countOf(count: number, noun: string): string {
  if (count !== 1) return `${count} ${noun}`;
  const words = noun.split(" ");
  const at = words.findIndex((word) => word.length > 2 && word.endsWith("s") && !word.endsWith("ss"));
  if (at >= 0) {
    const word = words[at];
    words[at] = word.endsWith("ies") ? `${word.slice(0, -3)}y` : word.slice(0, -1);
  }
  return `${count} ${words.join(" ")}`;
}
