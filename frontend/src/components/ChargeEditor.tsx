"use client";

import { Field } from "@/components/Field";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { ChargeModel, ChargePricePreviewQuery } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByPath } from "@/lib/forms";
import { formatDecimal, formatMoney, formatUnitPrice } from "@/lib/format";
import { useDebounced, useQuery } from "@/lib/hooks";
import {
  CHARGE_MODELS,
  MODEL_FIELDS,
  RANGES_FIELD,
  appendTier,
  chargePaths,
  propertiesInput,
  type ChargeDraft,
  type TierDraft,
} from "@/lib/plans";

const PricePreviewQuery = graphql(`
  query ChargePricePreview($input: ChargePricePreviewInput!) {
    chargePricePreview(input: $input) {
      preview {
        currency
        units
        amount
        unroundedAmount
        breakdown {
          kind
          units
          fromValue
          toValue
          perUnitAmount
          rate
          flatAmount
          packageSize
          packages
          events
          fixedAmount
          amount
        }
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Breakdown = NonNullable<ChargePricePreviewQuery["chargePricePreview"]["preview"]>["breakdown"][number];

export type Metric = { code: string; name: string; aggregation: string };

const PREVIEW_DELAY_MS = 300;

/** Move the keyboard focus to a control rendered by the coming update (a tier just added or removed). */
export function focusSoon(id: string) {
  window.requestAnimationFrame(() => document.getElementById(id)?.focus());
}

/** The price preview's request: debounced, and only once every tier has what the API needs. */
function usePricePreview(charge: ChargeDraft, currency: string) {
  const properties = propertiesInput(charge);
  const wanted = JSON.stringify({ model: charge.model, properties, quantity: charge.quantity.trim(), currency: currency.trim() });
  const settled = useDebounced(wanted, PREVIEW_DELAY_MS);
  const input = JSON.parse(settled) as { model: ChargeModel; properties: typeof properties; quantity: string; currency: string };
  const ready = input.properties !== null && input.quantity !== "" && input.currency !== "";
  const { data, error, loading } = useQuery(
    PricePreviewQuery,
    { input: { model: input.model, properties: input.properties ?? {}, quantity: input.quantity, currency: input.currency } },
    { skip: !ready },
  );
  const current = ready && wanted === settled;
  return {
    incomplete: properties === null,
    asked: charge.quantity.trim() !== "",
    pending: loading || wanted !== settled,
    result: current ? data?.chargePricePreview : undefined,
    error: current ? error : undefined,
  };
}

function stepText(step: Breakdown, currency: string): string {
  const money = (v: string | null | undefined) => formatMoney(v, currency);
  const unit = (v: string | null | undefined) => formatUnitPrice(v, currency);
  const flat = step.flatAmount && Number(step.flatAmount) !== 0 ? ` + ${money(step.flatAmount)} flat` : "";
  const range =
    step.fromValue !== null && step.fromValue !== undefined
      ? `${formatDecimal(step.fromValue)}–${step.toValue ? formatDecimal(step.toValue) : "∞"}: `
      : "";
  switch (step.kind) {
    case "RANGE":
      return step.rate !== null && step.rate !== undefined
        ? `${range}${formatDecimal(step.units)} × ${formatDecimal(step.rate)} %${flat}`
        : `${range}${formatDecimal(step.units)} units × ${unit(step.perUnitAmount)}${flat}`;
    case "UNITS":
      return `${formatDecimal(step.units)} units × ${unit(step.perUnitAmount)}`;
    case "FREE_UNITS":
      return step.events ? `${step.events} free events (${formatDecimal(step.units)})` : `${formatDecimal(step.units)} free units`;
    case "PACKAGES":
      return `${formatDecimal(step.packages)} packages of ${formatDecimal(step.packageSize)} × ${money(step.perUnitAmount)}`;
    case "PAID_EVENTS":
      return `${formatDecimal(step.units)} × ${formatDecimal(step.rate)} %${step.fixedAmount && Number(step.fixedAmount) ? ` + ${step.events} × ${money(step.fixedAmount)}` : ""}`;
    case "MINIMUM_ADJUSTMENT":
      return `raised to the per-event minimum (${step.events} events)`;
    case "MAXIMUM_ADJUSTMENT":
      return `lowered to the per-event maximum (${step.events} events)`;
    default:
      return step.kind;
  }
}

function PricePreview({ charge, index, currency, preview }: { charge: ChargeDraft; index: number; currency: string; preview: ReturnType<typeof usePricePreview> }) {
  const id = `charge-${index}-preview`;
  let body;
  if (!preview.asked) body = <p className="muted">Type a quantity to see what it costs.</p>;
  else if (preview.incomplete) body = <p className="muted">Fill in every tier’s From and {charge.model === "GRADUATED_PERCENTAGE" ? "Rate" : "Per unit"} to see the price.</p>;
  else if (preview.error) body = <p className="error form-error">The price could not be computed: {preview.error.message}</p>;
  else if (preview.result?.preview) {
    const p = preview.result.preview;
    body = (
      <>
        <p className="preview-amount">
          <span className="muted">{formatDecimal(p.units)} units cost </span>
          <strong data-testid={`charge-${index}-preview-amount`}>{formatMoney(p.amount, p.currency)}</strong>
        </p>
        <ol className="plain-list breakdown">
          {p.breakdown.map((step, k) => (
            <li key={k}>
              {stepText(step, p.currency)} = {formatUnitPrice(step.amount, p.currency)}
            </li>
          ))}
        </ol>
      </>
    );
  } else if (preview.result) body = <p className="muted">Correct the marked fields to see the price.</p>;
  else body = <p className="muted">Pricing…</p>;
  return (
    <section className="preview" aria-labelledby={`${id}-title`} aria-live="polite" aria-busy={preview.pending}>
      <h4 id={`${id}-title`}>
        Price preview{preview.pending && preview.asked ? <span className="muted"> · updating…</span> : null}
      </h4>
      {body}
    </section>
  );
}

type Props = {
  charge: ChargeDraft;
  index: number;
  currency: string;
  metrics: Metric[];
  saveErrors: UserError[];
  onChange(next: ChargeDraft): void;
  onRemove(): void;
};

export function ChargeEditor({ charge, index, currency, metrics, saveErrors, onChange, onRemove }: Props) {
  const preview = usePricePreview(charge, currency);
  const shown = new Set(chargePaths(charge, index));
  const fromPreview = errorsByPath(preview.result?.userErrors ?? [], shown, `charges.${index}`);
  const fromSave = errorsByPath(saveErrors, shown);
  const at = (path: string) => fromPreview.at(`charges.${index}.${path}`) ?? fromSave.at(`charges.${index}.${path}`);
  const previewGeneral = fromPreview.general;
  const ranges = RANGES_FIELD[charge.model];
  const percent = charge.model === "GRADUATED_PERCENTAGE";
  const base = `charge-${index}`;
  const metric = metrics.find((m) => m.code === charge.billableMetricCode);

  const set = (patch: Partial<ChargeDraft>) => onChange({ ...charge, ...patch });
  const setTier = (j: number, patch: Partial<TierDraft>) => set({ tiers: charge.tiers.map((t, k) => (k === j ? { ...t, ...patch } : t)) });
  const removeTier = (j: number) => set({ tiers: charge.tiers.filter((_, k) => k !== j) });

  const metricError = at("billableMetricCode");
  const modelError = at("model");
  const rangesError = ranges ? (at(`properties.${ranges}`) ?? at("properties")) : at("properties");

  return (
    <fieldset className="charge">
      <legend>
        Charge {index + 1}
        {metric ? `: ${metric.name}` : ""}
      </legend>
      <div className="field-row">
        <Field id={`${base}-metric`} label="Billable metric" error={metricError}>
          <select
            id={`${base}-metric`}
            value={charge.billableMetricCode}
            onChange={(e) => set({ billableMetricCode: e.target.value })}
            aria-invalid={!!metricError}
            aria-describedby={describedBy(`${base}-metric`, false, metricError)}
          >
            <option value="">Choose a metric…</option>
            {metrics.map((m) => (
              <option key={m.code} value={m.code}>
                {m.name} ({m.code})
              </option>
            ))}
          </select>
        </Field>
        <Field id={`${base}-model`} label="Charge model" hint={CHARGE_MODELS.find((m) => m.model === charge.model)?.hint} error={modelError}>
          <select
            id={`${base}-model`}
            value={charge.model}
            onChange={(e) => set({ model: e.target.value as ChargeModel })}
            aria-invalid={!!modelError}
            aria-describedby={describedBy(`${base}-model`, true, modelError)}
          >
            {CHARGE_MODELS.map((m) => (
              <option key={m.model} value={m.model}>
                {m.label}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <div className="field-inline">
        <input id={`${base}-advance`} type="checkbox" checked={charge.payInAdvance} onChange={(e) => set({ payInAdvance: e.target.checked })} />
        <label htmlFor={`${base}-advance`}>Bill this charge in advance (as each event arrives)</label>
      </div>

      {MODEL_FIELDS[charge.model].length ? (
        <div className="field-row">
          {MODEL_FIELDS[charge.model].map(({ name, label, hint, optional }) => {
            const id = `${base}-${name}`;
            const error = at(`properties.${name}`);
            return (
              <Field key={name} id={id} label={label} hint={hint ?? (optional ? "Optional." : undefined)} error={error}>
                <input
                  id={id}
                  inputMode={name === "freeUnitsPerEvents" ? "numeric" : "decimal"}
                  value={charge.values[name] ?? ""}
                  onChange={(e) => set({ values: { ...charge.values, [name]: e.target.value } })}
                  aria-invalid={!!error}
                  aria-describedby={describedBy(id, !!(hint ?? optional), error)}
                />
              </Field>
            );
          })}
        </div>
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
          <Table caption={`Tiers of charge ${index + 1}`}>
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
              {charge.tiers.map((tier, j) => {
                const cell = (column: "fromValue" | "toValue" | "perUnitAmount" | "rate" | "flatAmount", label: string, placeholder?: string) => {
                  const id = `${base}-tier-${j}-${column}`;
                  const error = at(`properties.${ranges}.${j}.${column}`);
                  return (
                    <td>
                      <input
                        id={id}
                        className="tier-input"
                        inputMode="decimal"
                        aria-label={`Tier ${j + 1} ${label}`}
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
                    {cell("toValue", "to", j === charge.tiers.length - 1 ? "∞" : undefined)}
                    {percent ? cell("rate", "rate") : cell("perUnitAmount", "per unit")}
                    {cell("flatAmount", "flat fee")}
                    <td>
                      <button
                        type="button"
                        className="secondary"
                        disabled={charge.tiers.length === 1}
                        onClick={() => {
                          removeTier(j);
                          focusSoon(`${base}-tier-${Math.max(j - 1, 0)}-fromValue`);
                        }}
                      >
                        Remove<span className="visually-hidden"> tier {j + 1}</span>
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
              set({ tiers: appendTier(charge.tiers) });
              focusSoon(`${base}-tier-${charge.tiers.length}-${percent ? "rate" : "perUnitAmount"}`);
            }}
          >
            Add tier<span className="visually-hidden"> to charge {index + 1}</span>
          </button>
        </div>
      ) : null}

      <div className="preview-box">
        <Field
          id={`${base}-quantity`}
          label="Preview a quantity"
          hint={charge.model === "PERCENTAGE" ? "An amount, priced as one event." : `Units of ${metric?.name ?? "the metric"} in a period.`}
          error={at("quantity")}
        >
          <input
            id={`${base}-quantity`}
            inputMode="decimal"
            value={charge.quantity}
            onChange={(e) => set({ quantity: e.target.value })}
            aria-invalid={!!at("quantity")}
            aria-describedby={describedBy(`${base}-quantity`, true, at("quantity"))}
          />
        </Field>
        <PricePreview charge={charge} index={index} currency={currency} preview={preview} />
        {previewGeneral.length ? (
          <div className="notice error" role="alert">
            {previewGeneral.map((e) => (
              <p key={e.code + e.message}>{e.message}</p>
            ))}
          </div>
        ) : null}
      </div>

      <button type="button" className="secondary" onClick={onRemove}>
        Remove charge {index + 1}
      </button>
    </fieldset>
  );
}
