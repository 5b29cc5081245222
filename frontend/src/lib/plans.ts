// The plan editor's drafts: what the form holds (strings as typed), and the API inputs built from them.
import type { ChargeFilterInput, ChargeInput, ChargeModel, ChargeOverrideInput, ChargePropertiesInput, PlanOverridesInput } from "@/gql/graphql";

export const CHARGE_MODELS: { model: ChargeModel; label: string; hint: string }[] = [
  { model: "STANDARD", label: "Standard", hint: "units × a unit price" },
  { model: "GRADUATED", label: "Graduated tiers", hint: "each tier prices the units inside it" },
  { model: "VOLUME", label: "Volume tiers", hint: "all units at the tier the total falls in" },
  { model: "PACKAGE", label: "Package", hint: "a price per started package of units" },
  { model: "PERCENTAGE", label: "Percentage", hint: "a percent of each event's amount" },
  { model: "GRADUATED_PERCENTAGE", label: "Graduated percentage", hint: "a percent per tier" },
];

/** The property holding a tiered model's tiers (as the API names it). */
export const RANGES_FIELD: Partial<Record<ChargeModel, "graduatedRanges" | "volumeRanges" | "graduatedPercentageRanges">> = {
  GRADUATED: "graduatedRanges",
  VOLUME: "volumeRanges",
  GRADUATED_PERCENTAGE: "graduatedPercentageRanges",
};

/** The plain properties each model takes, with their labels (tiers are edited in a table). */
export const MODEL_FIELDS: Record<ChargeModel, { name: ScalarProperty; label: string; hint?: string; optional?: boolean }[]> = {
  STANDARD: [{ name: "amount", label: "Price per unit" }],
  PACKAGE: [
    { name: "amount", label: "Price per package" },
    { name: "packageSize", label: "Units per package" },
    { name: "freeUnits", label: "Free units", optional: true, hint: "Optional: units not charged before the first package." },
  ],
  PERCENTAGE: [
    { name: "rate", label: "Rate (%)", hint: "A percent of each event's amount: 1.3 is 1.3 %." },
    { name: "fixedAmount", label: "Fixed amount per paid event", optional: true },
    { name: "freeUnitsPerEvents", label: "Free events", optional: true, hint: "Optional: the first events of a period are free." },
    { name: "freeUnitsPerTotalAggregation", label: "Free amount", optional: true },
    { name: "perTransactionMinAmount", label: "Per event, at least", optional: true },
    { name: "perTransactionMaxAmount", label: "Per event, at most", optional: true },
  ],
  GRADUATED: [],
  VOLUME: [],
  GRADUATED_PERCENTAGE: [],
};

export type ScalarProperty =
  | "amount"
  | "packageSize"
  | "freeUnits"
  | "rate"
  | "fixedAmount"
  | "freeUnitsPerEvents"
  | "freeUnitsPerTotalAggregation"
  | "perTransactionMinAmount"
  | "perTransactionMaxAmount";

export type TierDraft = { key: number; fromValue: string; toValue: string; perUnitAmount: string; rate: string; flatAmount: string };

/** A charge's (or a filter's, or an override's) properties as typed: the plain fields and the tiers. */
export type PropertiesDraft = {
  values: Partial<Record<ScalarProperty, string>>;
  tiers: TierDraft[];
};

/** A charge filter: the metric's dimension values it prices (key → chosen values) with properties of its own. */
export type FilterDraft = PropertiesDraft & {
  key: number;
  dimensions: Record<string, string[]>;
  invoiceDisplayName: string;
};

export type ChargeDraft = PropertiesDraft & {
  key: number;
  billableMetricCode: string;
  model: ChargeModel;
  payInAdvance: boolean;
  prorated: boolean;
  minAmount: string; // "" for none
  invoiceDisplayName: string; // "" for the metric's name
  filters: FilterDraft[];
  quantity: string; // what the price preview prices
};

/** What the editor needs to know of a metric: its name, how it aggregates, and its filter keys with their values. */
export type MetricChoice = {
  code: string;
  name: string;
  aggregation: string;
  recurring: boolean;
  filters: { key: string; values: string[] }[];
};

let keys = 0;
export const nextKey = () => ++keys;

export function newTier(fromValue = "", toValue = ""): TierDraft {
  return { key: nextKey(), fromValue, toValue, perUnitAmount: "", rate: "", flatAmount: "0" };
}

export function newProperties(): PropertiesDraft {
  return { values: {}, tiers: [newTier("0", "")] };
}

export function newCharge(billableMetricCode = ""): ChargeDraft {
  return {
    key: nextKey(),
    billableMetricCode,
    model: "GRADUATED",
    payInAdvance: false,
    ...newProperties(),
    prorated: false,
    minAmount: "",
    invoiceDisplayName: "",
    filters: [],
    quantity: "",
  };
}

export function newFilter(): FilterDraft {
  return { key: nextKey(), dimensions: {}, invoiceDisplayName: "", ...newProperties() };
}

/** The next tier after `tiers`: it starts on the unit after the last tier's end (integer style: 0–10, 11–20). */
export function appendTier(tiers: TierDraft[]): TierDraft[] {
  const last = tiers[tiers.length - 1];
  const end = last?.toValue.trim();
  let from = "";
  if (end && /^\d+$/.test(end)) from = String(BigInt(end) + BigInt(1));
  else if (end) from = end;
  return [...tiers, newTier(from, "")];
}

const blank = (value: string | undefined) => (value ?? "").trim() === "";
const orNull = (value: string | undefined) => (blank(value) ? null : (value ?? "").trim());

/** What a tier lacks before it can be priced (the API cannot be asked with a blank required decimal). */
export function missingInTier(model: ChargeModel, tier: TierDraft): ("fromValue" | "perUnitAmount" | "rate")[] {
  const missing: ("fromValue" | "perUnitAmount" | "rate")[] = [];
  if (blank(tier.fromValue)) missing.push("fromValue");
  if (model === "GRADUATED_PERCENTAGE" ? blank(tier.rate) : blank(tier.perUnitAmount)) {
    missing.push(model === "GRADUATED_PERCENTAGE" ? "rate" : "perUnitAmount");
  }
  return missing;
}

/** Properties as the API reads them (only the model's fields); null while a tier is incomplete. */
export function propertiesInput(model: ChargeModel, draft: PropertiesDraft): ChargePropertiesInput | null {
  const ranges = RANGES_FIELD[model];
  if (ranges) {
    if (draft.tiers.some((t) => missingInTier(model, t).length)) return null;
    if (ranges === "graduatedPercentageRanges") {
      return {
        graduatedPercentageRanges: draft.tiers.map((t) => ({
          fromValue: t.fromValue.trim(),
          toValue: orNull(t.toValue),
          rate: t.rate.trim(),
          flatAmount: orNull(t.flatAmount) ?? "0",
        })),
      };
    }
    return {
      [ranges]: draft.tiers.map((t) => ({
        fromValue: t.fromValue.trim(),
        toValue: orNull(t.toValue),
        perUnitAmount: t.perUnitAmount.trim(),
        flatAmount: orNull(t.flatAmount) ?? "0",
      })),
    };
  }
  const properties: ChargePropertiesInput = {};
  for (const { name } of MODEL_FIELDS[model]) {
    const value = orNull(draft.values[name]);
    if (value === null) continue;
    if (name === "freeUnitsPerEvents") {
      // An integer in the API: a value that is not one is sent as typed for the API to refuse on the field.
      properties.freeUnitsPerEvents = /^\d+$/.test(value) ? Number(value) : (value as unknown as number);
    } else {
      properties[name] = value;
    }
  }
  return properties;
}

/** A filter's dimension values as the API reads them: the keys with at least one value chosen. */
export function filterValues(filter: FilterDraft): Record<string, string[]> {
  return Object.fromEntries(Object.entries(filter.dimensions).filter(([, values]) => values.length > 0));
}

export function filterInput(model: ChargeModel, filter: FilterDraft): ChargeFilterInput | null {
  const properties = propertiesInput(model, filter);
  if (!properties) return null;
  return { values: filterValues(filter), properties, invoiceDisplayName: orNull(filter.invoiceDisplayName) };
}

/** The charge as the API reads it; null while a tier (of the charge or of one of its filters) is incomplete. */
export function chargeInput(charge: ChargeDraft): ChargeInput | null {
  const properties = propertiesInput(charge.model, charge);
  const filters = charge.filters.map((f) => filterInput(charge.model, f));
  if (!properties || filters.some((f) => f === null)) return null;
  return {
    billableMetricCode: charge.billableMetricCode,
    model: charge.model,
    properties,
    payInAdvance: charge.payInAdvance,
    prorated: charge.prorated,
    minAmount: orNull(charge.minAmount),
    invoiceDisplayName: orNull(charge.invoiceDisplayName),
    filters: filters.length ? (filters as ChargeFilterInput[]) : null,
  };
}

/** Where a charge's properties are incomplete, in words ("filter 2"), or null when the charge can be sent. */
export function incompletePart(charge: ChargeDraft): string | null {
  if (!propertiesInput(charge.model, charge)) return "its tiers";
  const filter = charge.filters.findIndex((f) => !propertiesInput(charge.model, f));
  return filter >= 0 ? `the tiers of its filter ${filter + 1}` : null;
}

/** Every field path a properties editor shows an error for, under `at` ("charges.0.properties"). */
export function propertyPaths(model: ChargeModel, draft: PropertiesDraft, at: string): string[] {
  const paths = [at];
  const ranges = RANGES_FIELD[model];
  if (ranges) {
    paths.push(`${at}.${ranges}`);
    draft.tiers.forEach((_, j) => {
      for (const column of ["fromValue", "toValue", "perUnitAmount", "rate", "flatAmount"]) {
        paths.push(`${at}.${ranges}.${j}.${column}`);
      }
    });
  }
  for (const { name } of MODEL_FIELDS[model]) paths.push(`${at}.${name}`);
  return paths;
}

/** Every field path a control of this charge shows an error for ("charges.0.filters.1.properties.amount"). */
export function chargePaths(charge: ChargeDraft, index: number): string[] {
  const at = `charges.${index}`;
  const paths = [
    `${at}.billableMetricCode`,
    `${at}.model`,
    `${at}.quantity`,
    `${at}.payInAdvance`,
    `${at}.prorated`,
    `${at}.minAmount`,
    `${at}.invoiceDisplayName`,
    `${at}.filters`,
    ...propertyPaths(charge.model, charge, `${at}.properties`),
  ];
  charge.filters.forEach((filter, j) => {
    const here = `${at}.filters.${j}`;
    paths.push(`${here}.values`, `${here}.invoiceDisplayName`, ...propertyPaths(charge.model, filter, `${here}.properties`));
  });
  return paths;
}

export const PRORATED_MODELS: ChargeModel[] = ["STANDARD", "GRADUATED", "VOLUME"];

/** Why a charge cannot be prorated (the API's rule, in words), or null when it can. */
export function prorationBlocker(model: ChargeModel, payInAdvance: boolean, metric: Pick<MetricChoice, "aggregation" | "recurring"> | undefined): string | null {
  if (metric && (!metric.recurring || !["COUNT", "SUM"].includes(metric.aggregation))) {
    return "Only a charge on a recurring COUNT or SUM metric (seats, say) can be prorated.";
  }
  if (!PRORATED_MODELS.includes(model)) return "Only standard, graduated and volume charges can be prorated.";
  if (payInAdvance) return "A charge billed in advance cannot be prorated.";
  return null;
}

/** The filters after the charge's metric changed: each keeps the dimension values the new metric has. */
export function filtersForMetric(filters: FilterDraft[], metric: Pick<MetricChoice, "filters"> | undefined): FilterDraft[] {
  const allowed = new Map((metric?.filters ?? []).map((f) => [f.key, new Set(f.values)]));
  return filters.map((f) => ({
    ...f,
    dimensions: Object.fromEntries(
      Object.entries(f.dimensions)
        .filter(([key]) => allowed.has(key))
        .map(([key, values]) => [key, values.filter((v) => allowed.get(key)?.has(v))]),
    ),
  }));
}

/** A filter's dimension values after one value is checked or unchecked, in the metric's order. */
export function toggleDimension(filter: FilterDraft, key: string, value: string, checked: boolean, order: string[]): FilterDraft {
  const now = new Set(filter.dimensions[key] ?? []);
  if (checked) now.add(value);
  else now.delete(value);
  return { ...filter, dimensions: { ...filter.dimensions, [key]: order.filter((v) => now.has(v)) } };
}

/** A filter's dimensions in words: "region: eu, us" (or a placeholder while none is chosen). */
export function filterSummary(filter: FilterDraft): string {
  const parts = Object.entries(filterValues(filter)).map(([key, values]) => `${key}: ${values.join(", ")}`);
  return parts.length ? parts.join("; ") : "no values chosen yet";
}

export type LoadedProperties = Partial<Record<ScalarProperty, string | number | null>> & {
  graduatedRanges?: { fromValue: string; toValue?: string | null; perUnitAmount: string; flatAmount: string }[] | null;
  volumeRanges?: { fromValue: string; toValue?: string | null; perUnitAmount: string; flatAmount: string }[] | null;
  graduatedPercentageRanges?: { fromValue: string; toValue?: string | null; rate: string; flatAmount: string }[] | null;
};

/** Stored properties back as a draft of `model`'s fields. */
export function propertiesDraft(model: ChargeModel, p: LoadedProperties): PropertiesDraft {
  const ranges = p.graduatedRanges ?? p.volumeRanges ?? p.graduatedPercentageRanges ?? null;
  const values: Partial<Record<ScalarProperty, string>> = {};
  for (const { name } of MODEL_FIELDS[model]) {
    const value = p[name];
    if (value !== null && value !== undefined) values[name] = String(value);
  }
  return {
    values,
    tiers: ranges
      ? ranges.map((r) => ({
          key: nextKey(),
          fromValue: r.fromValue,
          toValue: r.toValue ?? "",
          perUnitAmount: "perUnitAmount" in r ? r.perUnitAmount : "",
          rate: "rate" in r ? r.rate : "",
          flatAmount: r.flatAmount,
        }))
      : [newTier("0", "")],
  };
}

function dimensionsFrom(values: unknown): Record<string, string[]> {
  if (!values || typeof values !== "object" || Array.isArray(values)) return {};
  return Object.fromEntries(
    Object.entries(values as Record<string, unknown>).map(([key, list]) => [key, Array.isArray(list) ? list.map(String) : []]),
  );
}

export function chargeFromPlan(charge: {
  model: ChargeModel;
  payInAdvance: boolean;
  prorated: boolean;
  minAmount?: string | null;
  invoiceDisplayName?: string | null;
  billableMetric: { code: string };
  properties: LoadedProperties;
  filters: { values: unknown; invoiceDisplayName?: string | null; properties: LoadedProperties }[];
}): ChargeDraft {
  return {
    key: nextKey(),
    billableMetricCode: charge.billableMetric.code,
    model: charge.model,
    payInAdvance: charge.payInAdvance,
    ...propertiesDraft(charge.model, charge.properties),
    prorated: charge.prorated,
    minAmount: charge.minAmount ?? "",
    invoiceDisplayName: charge.invoiceDisplayName ?? "",
    filters: charge.filters.map((f) => ({
      key: nextKey(),
      dimensions: dimensionsFrom(f.values),
      invoiceDisplayName: f.invoiceDisplayName ?? "",
      ...propertiesDraft(charge.model, f.properties),
    })),
    quantity: "",
  };
}

/** A subscription's own price for one of its plan's charges (an enterprise deal), by the charge's model. */
export type ChargeOverrideDraft = PropertiesDraft & {
  billableMetricCode: string;
  metricName: string;
  model: ChargeModel;
  enabled: boolean; // off: the plan's price
};

/** What a plan change may override of the new plan; blank fields and charges not enabled keep the plan's. */
export type OverridesDraft = { amount: string; minimumCommitment: string; charges: ChargeOverrideDraft[] };

/** The overrides a plan offers: one per charged metric (the API keys charge overrides by metric), starting from the plan's price. */
export function overridesDraft(
  charges: { model: ChargeModel; billableMetric: { code: string; name: string }; properties: LoadedProperties }[],
): OverridesDraft {
  const seen = new Set<string>();
  const drafts: ChargeOverrideDraft[] = [];
  for (const c of charges) {
    if (seen.has(c.billableMetric.code)) continue;
    seen.add(c.billableMetric.code);
    drafts.push({ billableMetricCode: c.billableMetric.code, metricName: c.billableMetric.name, model: c.model, enabled: false, ...propertiesDraft(c.model, c.properties) });
  }
  return { amount: "", minimumCommitment: "", charges: drafts };
}

/** The position of an enabled charge override in the list sent (the API's userErrors name that position), or null. */
export function sentOverrideIndex(draft: OverridesDraft, k: number): number | null {
  if (!draft.charges[k]?.enabled) return null;
  return draft.charges.slice(0, k).filter((c) => c.enabled).length;
}

/** The planOverrides input: null when nothing is overridden; `incomplete` names a charge whose tiers lack a value. */
export function planOverridesInput(draft: OverridesDraft): { input: PlanOverridesInput | null; incomplete: string | null } {
  const charges: ChargeOverrideInput[] = [];
  for (const c of draft.charges.filter((c) => c.enabled)) {
    const properties = propertiesInput(c.model, c);
    if (!properties) return { input: null, incomplete: c.metricName };
    charges.push({ billableMetricCode: c.billableMetricCode, properties });
  }
  const amount = orNull(draft.amount);
  const minimumCommitment = orNull(draft.minimumCommitment);
  if (amount === null && minimumCommitment === null && !charges.length) return { input: null, incomplete: null };
  const input: PlanOverridesInput = {};
  if (amount !== null) input.amount = amount;
  if (minimumCommitment !== null) input.minimumCommitment = minimumCommitment;
  if (charges.length) input.charges = charges;
  return { input, incomplete: null };
}

/** Every field path the overrides show an error for ("planOverrides.charges.0.properties.amount"). */
export function overridePaths(draft: OverridesDraft): string[] {
  const paths = ["planOverrides", "planOverrides.amount", "planOverrides.minimumCommitment", "planOverrides.charges"];
  draft.charges.forEach((c, k) => {
    const sent = sentOverrideIndex(draft, k);
    if (sent === null) return;
    paths.push(`planOverrides.charges.${sent}.billableMetricCode`, ...propertyPaths(c.model, c, `planOverrides.charges.${sent}.properties`));
  });
  return paths;
}
