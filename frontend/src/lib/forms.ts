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
