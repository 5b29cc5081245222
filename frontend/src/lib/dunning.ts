// The dunning pages' words and parsing: retry intervals as people type them, ISO 8601 durations as words,
// and what a chased invoice's attempts say.

const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
const UNITS = ["week", "day", "hour", "minute", "second"] as const;

/** "P1D, p2d  PT12H" → ["P1D", "P2D", "PT12H"]: commas or spaces between, upper-cased (the API checks them). */
export function parseIntervals(typed: string): string[] {
  return typed
    .split(/[\s,;]+/)
    .map((t) => t.trim().toUpperCase())
    .filter(Boolean);
}

/** "P1D" → "1 day", "PT36H" → "36 hours", "P1DT12H" → "1 day 12 hours"; what is not a fixed duration stays as is. */
export function durationWords(iso: string): string {
  const match = DURATION.exec(iso);
  if (!match || iso === "P" || iso.endsWith("T")) return iso;
  const words = match
    .slice(1)
    .map((n, i) => (n === undefined ? null : `${Number(n)} ${UNITS[i]}${Number(n) === 1 ? "" : "s"}`))
    .filter((w): w is string => w !== null && !w.startsWith("0 "));
  return words.length ? words.join(" ") : "at once";
}

type Attempt = { number: number; status: string; declineCode?: string | null; hardDecline: boolean; createdAt: string };

/** What a chased invoice's attempts say: how many were made, the latest one, whether retrying can still help. */
export function attemptsSummary(attempts: Attempt[]): { made: number; failed: number; latest: Attempt | null; hard: boolean } {
  const latest = attempts.reduce<Attempt | null>((last, a) => (last === null || a.number > last.number ? a : last), null);
  return {
    made: attempts.length,
    failed: attempts.filter((a) => a.status === "FAILED").length,
    latest,
    hard: attempts.some((a) => a.hardDecline),
  };
}

/** Dunning statuses in words (the API's RETRYING, AWAITING_METHOD, EXHAUSTED, RECOVERED). */
export const DUNNING_WORDS: Record<string, string> = {
  RETRYING: "Retrying on schedule",
  AWAITING_METHOD: "Waiting for a new payment method (hard decline)",
  EXHAUSTED: "Retries spent",
  RECOVERED: "Recovered",
};
