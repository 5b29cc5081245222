// The revenue dashboard's range rules, mirrored from the API (docs/analytics.md): `to` not before `from`,
// at most 5 years. The API refuses the same ranges (INVALID_DATE_RANGE, DATE_RANGE_TOO_LONG); checking here
// first gives the words beside the field instead of a round trip.

import type { Granularity } from "@/gql/graphql";

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A local date "YYYY-MM-DD" as a UTC instant, or null if it is not a real date. */
function parseDay(value: string): Date | null {
  if (!DAY.test(value)) return null;
  const date = new Date(`${value}T00:00:00Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value ? null : date;
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The viewer's own calendar date (its time zone), "YYYY-MM-DD". */
export function localDay(now: Date): string {
  const parts = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
  return parts; // en-CA formats as YYYY-MM-DD
}

/** The last twelve months: the first day of the month eleven months ago to today, in the viewer's time zone. */
export function defaultRange(now: Date): { from: string; to: string } {
  const to = localDay(now);
  const [year, month] = to.split("-").map(Number);
  const start = new Date(Date.UTC(year, month - 1 - 11, 1));
  return { from: isoDay(start), to };
}

export type RangeProblem = { field: "from" | "to"; message: string };

/** Why a range cannot be shown (null: it can). */
export function checkRange(from: string, to: string): RangeProblem | null {
  const first = parseDay(from);
  if (!first) return { field: "from", message: "“From” needs a date." };
  const last = parseDay(to);
  if (!last) return { field: "to", message: "“To” needs a date." };
  if (last < first) return { field: "to", message: "“To” is before “From”: pick a “To” date on or after it." };
  const limit = new Date(Date.UTC(first.getUTCFullYear() + 5, first.getUTCMonth(), first.getUTCDate()));
  if (last >= limit) return { field: "to", message: "A range covers at most 5 years: pick a later “From” or an earlier “To”." };
  return null;
}

/** A plain date (no time zone: the organization's calendar) for people. */
export function formatDay(value: string, locale?: string): string {
  const date = parseDay(value);
  return date ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(date) : value;
}

/** A bucket's name: "Mar 2026" for a whole month, else its first day (or first–last day). */
export function periodLabel(point: { periodStart: string; periodEnd: string }, granularity: Granularity, locale?: string) {
  const start = parseDay(point.periodStart);
  if (!start) return point.periodStart;
  if (granularity === "MONTH") {
    const whole = point.periodStart.endsWith("-01");
    const month = new Intl.DateTimeFormat(locale, { month: "short", year: "numeric", timeZone: "UTC" }).format(start);
    return whole ? month : `${formatDay(point.periodStart, locale)}–${formatDay(point.periodEnd, locale)}`;
  }
  if (granularity === "WEEK") return `wk of ${formatDay(point.periodStart, locale)}`;
  return formatDay(point.periodStart, locale);
}

/** "97.50" → "97.5 %" in the viewer's locale; none → "—". */
export function formatPercent(value: string | null | undefined, locale?: string): string {
  if (value === null || value === undefined || value === "" || value === "null") return "—";
  return `${new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(value as unknown as number)} %`;
}
