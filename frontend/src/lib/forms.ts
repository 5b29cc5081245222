import type { UserError } from "./auth";

/** The API's userErrors by the last part of their field path, and those that name no field of the form. */
export function errorsByField(errors: UserError[], fields: string[]) {
  const at = (name: string) => errors.find((e) => e.field?.[e.field.length - 1] === name)?.message;
  const general = errors.filter((e) => !e.field?.length || !fields.includes(e.field[e.field.length - 1]));
  return { at, general };
}

/** aria-describedby for a control with an optional hint and an optional error. */
export function describedBy(id: string, hint: boolean, error: string | undefined): string | undefined {
  return [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
}

/** A datetime-local value ("2026-12-02T10:30") read in the viewer's time zone, as ISO 8601 with its offset. */
export function localToIso(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The message of the userError at `path` under the input (["lines", "0", "amount"] is input.lines[0].amount). */
export function errorAtPath(errors: UserError[], ...path: string[]): string | undefined {
  const wanted = path.join(".");
  return errors.find((e) => errorPath(e) === wanted)?.message;
}

/** The userErrors that name none of `paths` (shown above the form). */
export function errorsElsewhere(errors: UserError[], paths: string[][]): UserError[] {
  const known = new Set(paths.map((p) => p.join(".")));
  return errors.filter((e) => !known.has(errorPath(e)));
}

/** The messages of the userErrors at `path` under the input or below it (input.retryIntervals[2] is below
 * ["retryIntervals"]), with the index of the item they name, if any. */
export function errorsUnder(errors: UserError[], ...path: string[]): { index: number | null; message: string }[] {
  const prefix = ["input", ...path];
  return errors
    .filter((e) => prefix.every((part, i) => e.field?.[i] === part))
    .map((e) => {
      const next = e.field?.[prefix.length];
      return { index: next !== undefined && /^\d+$/.test(next) ? Number(next) : null, message: e.message };
    });
}

/** A userError's field as a dotted path without the leading "input" (["input","charges","0","code"] → "charges.0.code"). */
export function errorPath(error: UserError, prefix = ""): string {
  const parts = error.field?.[0] === "input" ? error.field.slice(1) : (error.field ?? []);
  return [prefix, ...parts].filter(Boolean).join(".");
}

/** The API's userErrors by their full field path, for forms with nested rows; `general`: those no control shows. */
export function errorsByPath(errors: UserError[], shown: Set<string>, prefix = "") {
  const byPath = new Map<string, string>();
  const general: UserError[] = [];
  for (const error of errors) {
    const path = errorPath(error, prefix);
    if (shown.has(path) && !byPath.has(path)) byPath.set(path, error.message);
    else general.push(error);
  }
  return { at: (path: string) => byPath.get(path), general };
}
