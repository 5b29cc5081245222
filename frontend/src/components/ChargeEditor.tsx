"use client";

import { useCallback, useEffect, useState } from "react";
import { Field } from "@/components/Field";
import { PropertiesEditor, focusSoon } from "@/components/PropertiesEditor";
import { graphql } from "@/gql";
import type { ChargeModel, ChargePricePreviewQuery } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByPath } from "@/lib/forms";
import { formatDecimal, formatMoney, formatUnitPrice } from "@/lib/format";
import { useDebounced, useQuery } from "@/lib/hooks";
import { previewErrorPrefix, previewTargets, type PreviewInput, type PreviewTarget } from "@/lib/pricePreview";
import {
  CHARGE_MODELS,
  chargePaths,
  filterSummary,
  filtersForMetric,
  newFilter,
  prorationBlocker,
  toggleDimension,
  type ChargeDraft,
  type FilterDraft,
  type MetricChoice,
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

export type Metric = MetricChoice;

const PREVIEW_DELAY_MS = 300;

export { focusSoon };

/** A price preview's request: debounced, and only once every field it needs is filled in (`input` not null). */
function usePricePreview(input: PreviewInput | null, asked: boolean) {
  const wanted = JSON.stringify(input);
  const settled = useDebounced(wanted, PREVIEW_DELAY_MS);
  const sent = JSON.parse(settled) as PreviewInput | null;
  const ready = sent !== null;
  const { data, error, loading } = useQuery(
    PricePreviewQuery,
    { input: sent ?? { model: "STANDARD" as ChargeModel, properties: {}, quantity: "0", currency: "" } },
    { skip: !ready },
  );
  const current = ready && wanted === settled;
  return {
    incomplete: input === null,
    asked,
    pending: loading || wanted !== settled,
    result: current ? data?.chargePricePreview : undefined,
    error: current ? error : undefined,
  };
}

type Preview = ReturnType<typeof usePricePreview>;

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

function PreviewBody({ model, testId, preview }: { model: ChargeModel; testId: string; preview: Preview }) {
  if (!preview.asked) return <p className="muted">Type a quantity to see what it costs.</p>;
  if (preview.incomplete) return <p className="muted">Fill in every tier’s From and {model === "GRADUATED_PERCENTAGE" ? "Rate" : "Per unit"} to see the price.</p>;
  if (preview.error) return <p className="error form-error">The price could not be computed: {preview.error.message}</p>;
  if (preview.result?.preview) {
    const p = preview.result.preview;
    return (
      <>
        <p className="preview-amount">
          <span className="muted">{formatDecimal(p.units)} units cost </span>
          <strong data-testid={testId}>{formatMoney(p.amount, p.currency)}</strong>
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
  }
  if (preview.result) return <p className="muted">Correct the marked fields to see the price.</p>;
  return <p className="muted">Pricing…</p>;
}

function PricePreview({ charge, index, preview, filters }: { charge: ChargeDraft; index: number; preview: Preview; filters: PreviewTarget[] }) {
  const id = `charge-${index}-preview`;
  const body = <PreviewBody model={charge.model} testId={`charge-${index}-preview-amount`} preview={preview} />;
  return (
    <section className="preview" aria-labelledby={`${id}-title`} aria-live="polite" aria-busy={preview.pending}>
      <h4 id={`${id}-title`}>
        Price preview{preview.pending && preview.asked ? <span className="muted"> · updating…</span> : null}
      </h4>
      {filters.length ? (
        <section className="preview-target" aria-labelledby={`${id}-default-title`}>
          <h5 id={`${id}-default-title`}>Default price (events matching no filter)</h5>
          {body}
        </section>
      ) : (
        body
      )}
    </section>
  );
}

/** The price of the same quantity under one filter's own properties; its userErrors go to the editor's fields. */
function FilterPricePreview({
  charge,
  index,
  target,
  onErrors,
}: {
  charge: ChargeDraft;
  index: number;
  target: PreviewTarget;
  onErrors(key: string, errors: UserError[]): void;
}) {
  const preview = usePricePreview(target.input, charge.quantity.trim() !== "");
  const errors = preview.result?.userErrors;
  const key = target.key;
  const json = JSON.stringify(errors ?? []);
  useEffect(() => {
    onErrors(key, JSON.parse(json) as UserError[]);
  }, [key, json, onErrors]);
  useEffect(() => () => onErrors(key, []), [key, onErrors]);
  const id = `charge-${index}-preview-${target.key}`;
  return (
    <section className="preview preview-target" aria-labelledby={`${id}-title`} aria-live="polite" aria-busy={preview.pending}>
      <h5 id={`${id}-title`}>
        Filter {(target.filter ?? 0) + 1}: {target.label}
        {preview.pending && preview.asked ? <span className="muted"> · updating…</span> : null}
      </h5>
      <PreviewBody model={charge.model} testId={`charge-${index}-preview-${target.key}-amount`} preview={preview} />
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
  const targets = previewTargets(charge, currency);
  const [defaultTarget, ...filterTargets] = targets;
  const preview = usePricePreview(defaultTarget?.input ?? null, charge.quantity.trim() !== "");
  const [filterErrors, setFilterErrors] = useState<Record<string, UserError[]>>({});
  const onFilterErrors = useCallback(
    (key: string, errors: UserError[]) =>
      setFilterErrors((now) => (JSON.stringify(now[key] ?? []) === JSON.stringify(errors) ? now : { ...now, [key]: errors })),
    [],
  );
  const shown = new Set(chargePaths(charge, index));
  const fromPreview = errorsByPath(preview.result?.userErrors ?? [], shown, `charges.${index}`);
  const fromFilters = filterTargets.map((t) => {
    const errors = filterErrors[t.key] ?? [];
    const byPrefix = errors.map((e) => errorsByPath([e], shown, previewErrorPrefix(e, index, t.filter)));
    return {
      at: (path: string) => byPrefix.map((b) => b.at(path)).find((m) => m !== undefined),
      general: byPrefix.flatMap((b) => b.general),
    };
  });
  const fromSave = errorsByPath(saveErrors, shown);
  const at = (path: string) => {
    const full = `charges.${index}.${path}`;
    return fromPreview.at(full) ?? fromFilters.map((f) => f.at(full)).find((m) => m !== undefined) ?? fromSave.at(full);
  };
  const previewGeneral = [...fromPreview.general, ...fromFilters.flatMap((f) => f.general)];
  const base = `charge-${index}`;
  const owner = `charge ${index + 1}`;
  const metric = metrics.find((m) => m.code === charge.billableMetricCode);
  const blocker = prorationBlocker(charge.model, charge.payInAdvance, metric);

  const set = (patch: Partial<ChargeDraft>) => onChange({ ...charge, ...patch });
  const setFilter = (j: number, next: FilterDraft) => set({ filters: charge.filters.map((f, k) => (k === j ? next : f)) });

  const metricError = at("billableMetricCode");
  const modelError = at("model");
  const advanceError = at("payInAdvance");
  const proratedError = at("prorated");
  const filtersError = at("filters");
  const text = (name: "minAmount" | "invoiceDisplayName", label: string, hint: string, decimal = false) => {
    const id = `${base}-${name}`;
    const error = at(name);
    return (
      <Field id={id} label={label} hint={hint} error={error}>
        <input
          id={id}
          inputMode={decimal ? "decimal" : undefined}
          value={charge[name]}
          onChange={(e) => set({ [name]: e.target.value })}
          aria-invalid={!!error}
          aria-describedby={describedBy(id, true, error)}
        />
      </Field>
    );
  };

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
            onChange={(e) => {
              const next = metrics.find((m) => m.code === e.target.value);
              set({ billableMetricCode: e.target.value, filters: filtersForMetric(charge.filters, next) });
            }}
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
        <input
          id={`${base}-advance`}
          type="checkbox"
          checked={charge.payInAdvance}
          onChange={(e) => set({ payInAdvance: e.target.checked })}
          aria-invalid={!!advanceError}
          aria-describedby={advanceError ? `${base}-advance-error` : undefined}
        />
        <label htmlFor={`${base}-advance`}>Bill this charge in advance (as each event arrives)</label>
      </div>
      {advanceError ? (
        <p className="error form-error" id={`${base}-advance-error`}>
          {advanceError}
        </p>
      ) : null}
      <div className="field-inline">
        <input
          id={`${base}-prorated`}
          type="checkbox"
          checked={charge.prorated}
          disabled={!!blocker && !charge.prorated}
          onChange={(e) => set({ prorated: e.target.checked })}
          aria-invalid={!!proratedError}
          aria-describedby={describedBy(`${base}-prorated`, true, proratedError)}
        />
        <label htmlFor={`${base}-prorated`}>Prorate: bill each unit for the days it was in use</label>
      </div>
      <p className="hint muted" id={`${base}-prorated-hint`}>
        For seats and other recurring levels: a unit added mid-period is billed from that day, one removed up to that day. It applies to standard,
        graduated and volume charges billed in arrears on a recurring COUNT or SUM metric.{blocker ? ` ${blocker}` : ""}
      </p>
      {proratedError ? (
        <p className="error form-error" id={`${base}-prorated-error`}>
          {proratedError}
        </p>
      ) : null}
      <div className="field-row">
        {text(
          "minAmount",
          `Charge minimum (${currency || "plan currency"})`,
          "Optional: when the charge bills less in a period, a true-up fee makes up the difference (in proportion for a partial period).",
          true,
        )}
        {text("invoiceDisplayName", "Name on invoices", `Optional: ${metric ? `“${metric.name}”` : "the metric's name"} otherwise.`)}
      </div>

      <PropertiesEditor
        model={charge.model}
        draft={charge}
        base={base}
        owner={owner}
        currency={currency}
        errorAt={(path) => at(path ? `properties.${path}` : "properties")}
        onChange={(next) => set(next)}
      />

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
        <PricePreview charge={charge} index={index} preview={preview} filters={filterTargets} />
        {filterTargets.map((t) => (
          <FilterPricePreview key={t.key} charge={charge} index={index} target={t} onErrors={onFilterErrors} />
        ))}
        {previewGeneral.length ? (
          <div className="notice error" role="alert">
            {previewGeneral.map((e) => (
              <p key={e.code + e.message}>{e.message}</p>
            ))}
          </div>
        ) : null}
      </div>

      <ChargeFilters charge={charge} index={index} metric={metric} currency={currency} at={at} error={filtersError} onChange={setFilter} set={set} />

      <button type="button" className="secondary" onClick={onRemove}>
        Remove charge {index + 1}
      </button>
    </fieldset>
  );
}

type FiltersProps = {
  charge: ChargeDraft;
  index: number;
  metric: Metric | undefined;
  currency: string;
  at(path: string): string | undefined;
  error: string | undefined;
  onChange(j: number, next: FilterDraft): void;
  set(patch: Partial<ChargeDraft>): void;
};

/** The charge's filters: each prices the events with some of the metric's dimension values, by the charge's model. */
function ChargeFilters({ charge, index, metric, currency, at, error, onChange, set }: FiltersProps) {
  const base = `charge-${index}`;
  const keys = metric?.filters ?? [];
  if (!keys.length && !charge.filters.length) {
    return metric ? <p className="hint muted">{metric.name} has no filters (dimensions) to price differently.</p> : null;
  }
  return (
    <section className="charge-filters" aria-labelledby={`${base}-filters-title`}>
      <h4 id={`${base}-filters-title`}>Filters of charge {index + 1}</h4>
      <p className="hint muted" id={`${base}-filters-hint`}>
        A filter prices the events whose dimensions have the values you tick, with its own price ({CHARGE_MODELS.find((m) => m.model === charge.model)?.label.toLowerCase()},
        as the charge). Events that match no filter are priced as above.
      </p>
      {error ? (
        <p className="error form-error" id={`${base}-filters-error`}>
          {error}
        </p>
      ) : null}
      {charge.filters.map((filter, j) => {
        const fbase = `${base}-filter-${j}`;
        const here = `filters.${j}`;
        const valuesError = at(`${here}.values`);
        const nameError = at(`${here}.invoiceDisplayName`);
        // A key the metric no longer has (it was edited since) is still shown, so that it can be unticked.
        const shownKeys = [
          ...keys,
          ...Object.keys(filter.dimensions)
            .filter((k) => !keys.some((m) => m.key === k))
            .map((k) => ({ key: k, values: filter.dimensions[k] ?? [] })),
        ];
        return (
          <fieldset key={filter.key} className="charge-filter" aria-describedby={valuesError ? `${fbase}-values-error` : undefined}>
            <legend>
              Filter {j + 1} of charge {index + 1}: {filterSummary(filter)}
            </legend>
            {shownKeys.map(({ key, values }) => (
              <fieldset key={key} className="options">
                <legend>
                  Filter {j + 1}: {key}
                </legend>
                {values.map((value, v) => {
                  const id = `${fbase}-${key}-${v}`.replace(/[^A-Za-z0-9_-]/g, "_");
                  return (
                    <label key={value} htmlFor={id}>
                      <input
                        id={id}
                        type="checkbox"
                        checked={(filter.dimensions[key] ?? []).includes(value)}
                        onChange={(e) => onChange(j, toggleDimension(filter, key, value, e.target.checked, values))}
                        aria-describedby={valuesError ? `${fbase}-values-error` : undefined}
                      />
                      {value}
                    </label>
                  );
                })}
              </fieldset>
            ))}
            {valuesError ? (
              <p className="error form-error" id={`${fbase}-values-error`}>
                {valuesError}
              </p>
            ) : null}
            <Field id={`${fbase}-invoiceDisplayName`} label={`Filter ${j + 1} name on invoices`} hint="Optional." error={nameError}>
              <input
                id={`${fbase}-invoiceDisplayName`}
                value={filter.invoiceDisplayName}
                onChange={(e) => onChange(j, { ...filter, invoiceDisplayName: e.target.value })}
                aria-invalid={!!nameError}
                aria-describedby={describedBy(`${fbase}-invoiceDisplayName`, true, nameError)}
              />
            </Field>
            <PropertiesEditor
              model={charge.model}
              draft={filter}
              base={fbase}
              owner={`filter ${j + 1} of charge ${index + 1}`}
              labelPrefix={`Filter ${j + 1}`}
              currency={currency}
              errorAt={(path) => at(path ? `${here}.properties.${path}` : `${here}.properties`)}
              onChange={(next) => onChange(j, { ...filter, ...next })}
            />
            <button
              type="button"
              className="secondary"
              onClick={() => {
                set({ filters: charge.filters.filter((_, k) => k !== j) });
                focusSoon(`${base}-add-filter`);
              }}
            >
              Remove filter {j + 1}
              <span className="visually-hidden"> of charge {index + 1}</span>
            </button>
          </fieldset>
        );
      })}
      {keys.length ? (
        <button
          type="button"
          id={`${base}-add-filter`}
          className="secondary"
          onClick={() => {
            set({ filters: [...charge.filters, newFilter()] });
            const first = keys[0];
            if (first?.values.length) focusSoon(`${base}-filter-${charge.filters.length}-${first.key}-0`.replace(/[^A-Za-z0-9_-]/g, "_"));
          }}
        >
          Add a filter<span className="visually-hidden"> to charge {index + 1}</span>
        </button>
      ) : null}
    </section>
  );
}
