"use client";

import { Field } from "@/components/Field";
import { Table } from "@/components/Table";
import type { ChargeModel } from "@/gql/graphql";
import { describedBy } from "@/lib/forms";
import { MODEL_FIELDS, RANGES_FIELD, appendTier, type PropertiesDraft, type TierDraft } from "@/lib/plans";

/** Move the keyboard focus to a control rendered by the coming update (a tier just added or removed). */
export function focusSoon(id: string) {
  window.requestAnimationFrame(() => document.getElementById(id)?.focus());
}

type Props = {
  model: ChargeModel;
  draft: PropertiesDraft;
  /** The prefix of every control's id ("charge-0", "charge-0-filter-1"). */
  base: string;
  /** What the controls belong to, in words, for labels and captions ("charge 1", "filter 1 of charge 1"). */
  owner: string;
  /** Put before every label when several property editors share a form ("Filter 1"); none for the charge's own. */
  labelPrefix?: string;
  currency: string;
  /** The API's message for a path under the properties ("amount", "graduatedRanges.1.fromValue", "" for the whole). */
  errorAt(path: string): string | undefined;
  onChange(next: PropertiesDraft): void;
};

const prefixed = (prefix: string | undefined, label: string) => (prefix ? `${prefix} ${label.charAt(0).toLowerCase()}${label.slice(1)}` : label);

/** The properties of a charge model: its plain fields, or its tier table. The same editor serves a charge, each
 * of its filters and a subscription's charge overrides. */
export function PropertiesEditor({ model, draft, base, owner, labelPrefix, currency, errorAt, onChange }: Props) {
  const ranges = RANGES_FIELD[model];
  const percent = model === "GRADUATED_PERCENTAGE";
  const set = (patch: Partial<PropertiesDraft>) => onChange({ ...draft, ...patch });
  const setTier = (j: number, patch: Partial<TierDraft>) => set({ tiers: draft.tiers.map((t, k) => (k === j ? { ...t, ...patch } : t)) });
  const removeTier = (j: number) => set({ tiers: draft.tiers.filter((_, k) => k !== j) });
  const rangesError = ranges ? (errorAt(ranges) ?? errorAt("")) : errorAt("");

  return (
    <>
      {MODEL_FIELDS[model].length ? (
        <div className="field-row">
          {MODEL_FIELDS[model].map(({ name, label, hint, optional }) => {
            const id = `${base}-${name}`;
            const error = errorAt(name);
            return (
              <Field key={name} id={id} label={prefixed(labelPrefix, label)} hint={hint ?? (optional ? "Optional." : undefined)} error={error}>
                <input
                  id={id}
                  inputMode={name === "freeUnitsPerEvents" ? "numeric" : "decimal"}
                  value={draft.values[name] ?? ""}
                  onChange={(e) => set({ values: { ...draft.values, [name]: e.target.value } })}
                  aria-invalid={!!error}
                  aria-describedby={describedBy(id, !!(hint ?? optional), error)}
                />
              </Field>
            );
          })}
        </div>
      ) : null}
      {!ranges && rangesError ? (
        <p className="error form-error" id={`${base}-properties-error`}>
          {rangesError}
        </p>
      ) : null}

      {ranges ? (
        <div className="tiers">
          <p className="hint muted" id={`${base}-tiers-hint`}>
            The first tier starts at 0; each next one starts where the previous ends (10, then 10) or on the next unit (10, then 11); only the last tier
            is open (leave its “To” empty).
          </p>
          {rangesError ? (
            <p className="error form-error" id={`${base}-tiers-error`}>
              {rangesError}
            </p>
          ) : null}
          <Table caption={`Tiers of ${owner}`}>
            <thead>
              <tr>
                <th scope="col">Tier</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">{percent ? "Rate (%)" : `Per unit (${currency || "—"})`}</th>
                <th scope="col">Flat fee</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {draft.tiers.map((tier, j) => {
                const cell = (column: "fromValue" | "toValue" | "perUnitAmount" | "rate" | "flatAmount", label: string, placeholder?: string) => {
                  const id = `${base}-tier-${j}-${column}`;
                  const error = errorAt(`${ranges}.${j}.${column}`);
                  return (
                    <td>
                      <input
                        id={id}
                        className="tier-input"
                        inputMode="decimal"
                        aria-label={prefixed(labelPrefix, `Tier ${j + 1} ${label}`)}
                        placeholder={placeholder}
                        value={tier[column]}
                        onChange={(e) => setTier(j, { [column]: e.target.value })}
                        aria-invalid={!!error}
                        aria-describedby={error ? `${id}-error` : undefined}
                      />
                      {error ? (
                        <span className="error cell-error" id={`${id}-error`}>
                          {error}
                        </span>
                      ) : null}
                    </td>
                  );
                };
                return (
                  <tr key={tier.key}>
                    <th scope="row">{j + 1}</th>
                    {cell("fromValue", "from")}
                    {cell("toValue", "to", j === draft.tiers.length - 1 ? "∞" : undefined)}
                    {percent ? cell("rate", "rate") : cell("perUnitAmount", "per unit")}
                    {cell("flatAmount", "flat fee")}
                    <td>
                      <button
                        type="button"
                        className="secondary"
                        disabled={draft.tiers.length === 1}
                        onClick={() => {
                          removeTier(j);
                          focusSoon(`${base}-tier-${Math.max(j - 1, 0)}-fromValue`);
                        }}
                      >
                        Remove<span className="visually-hidden"> tier {j + 1} of {owner}</span>
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              set({ tiers: appendTier(draft.tiers) });
              focusSoon(`${base}-tier-${draft.tiers.length}-${percent ? "rate" : "perUnitAmount"}`);
            }}
          >
            Add tier<span className="visually-hidden"> to {owner}</span>
          </button>
        </div>
      ) : null}
    </>
  );
}
