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
  const wanted = ["input", ...path].join("\u0000");
  return errors.find((e) => (e.field ?? []).join("\u0000") === wanted)?.message;
}

/** The userErrors that name none of `paths` (shown above the form). */
export function errorsElsewhere(errors: UserError[], paths: string[][]): UserError[] {
  const known = new Set(paths.map((p) => ["input", ...p].join("\u0000")));
  return errors.filter((e) => !known.has((e.field ?? []).join("\u0000")));
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
