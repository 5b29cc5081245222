// The plan editor's drafts: what the form holds (strings as typed), and the API inputs built from them.
import type { ChargeFilterInput, ChargeInput, ChargeModel, ChargePropertiesInput } from "@/gql/graphql";

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

export type ChargeDraft = {
  key: number;
  billableMetricCode: string;
  model: ChargeModel;
  payInAdvance: boolean;
  values: Partial<Record<ScalarProperty, string>>;
  tiers: TierDraft[];
  quantity: string; // what the price preview prices
  // Kept as loaded and sent back unchanged: the editor does not edit them.
  prorated: boolean;
  minAmount: string | null;
  invoiceDisplayName: string | null;
  filters: ChargeFilterInput[];
};

let keys = 0;
export const nextKey = () => ++keys;

export function newTier(fromValue = "", toValue = ""): TierDraft {
  return { key: nextKey(), fromValue, toValue, perUnitAmount: "", rate: "", flatAmount: "0" };
}

export function newCharge(billableMetricCode = ""): ChargeDraft {
  return {
    key: nextKey(),
    billableMetricCode,
    model: "GRADUATED",
    payInAdvance: false,
    values: {},
    tiers: [{ ...newTier("0", ""), perUnitAmount: "" }],
    quantity: "",
    prorated: false,
    minAmount: null,
    invoiceDisplayName: null,
    filters: [],
  };
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

/** The charge's properties as the API reads them (only its model's fields); null while a tier is incomplete. */
export function propertiesInput(charge: ChargeDraft): ChargePropertiesInput | null {
  const ranges = RANGES_FIELD[charge.model];
  if (ranges) {
    if (charge.tiers.some((t) => missingInTier(charge.model, t).length)) return null;
    if (ranges === "graduatedPercentageRanges") {
      return {
        graduatedPercentageRanges: charge.tiers.map((t) => ({
          fromValue: t.fromValue.trim(),
          toValue: orNull(t.toValue),
          rate: t.rate.trim(),
          flatAmount: orNull(t.flatAmount) ?? "0",
        })),
      };
    }
    return {
      [ranges]: charge.tiers.map((t) => ({
        fromValue: t.fromValue.trim(),
        toValue: orNull(t.toValue),
        perUnitAmount: t.perUnitAmount.trim(),
        flatAmount: orNull(t.flatAmount) ?? "0",
      })),
    };
  }
  const properties: ChargePropertiesInput = {};
  for (const { name } of MODEL_FIELDS[charge.model]) {
    const value = orNull(charge.values[name]);
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

export function chargeInput(charge: ChargeDraft): ChargeInput | null {
  const properties = propertiesInput(charge);
  if (!properties) return null;
  return {
    billableMetricCode: charge.billableMetricCode,
    model: charge.model,
    properties,
    payInAdvance: charge.payInAdvance,
    prorated: charge.prorated,
    minAmount: charge.minAmount,
    invoiceDisplayName: charge.invoiceDisplayName,
    filters: charge.filters.length ? charge.filters : null,
  };
}

/** Every field path a control of this charge shows an error for ("charges.0.properties.graduatedRanges.1.fromValue"). */
export function chargePaths(charge: ChargeDraft, index: number): string[] {
  const at = `charges.${index}`;
  const paths = [`${at}.billableMetricCode`, `${at}.model`, `${at}.quantity`, `${at}.properties`];
  const ranges = RANGES_FIELD[charge.model];
  if (ranges) {
    paths.push(`${at}.properties.${ranges}`);
    charge.tiers.forEach((_, j) => {
      for (const column of ["fromValue", "toValue", "perUnitAmount", "rate", "flatAmount"]) {
        paths.push(`${at}.properties.${ranges}.${j}.${column}`);
      }
    });
  }
  for (const { name } of MODEL_FIELDS[charge.model]) paths.push(`${at}.properties.${name}`);
  return paths;
}

type LoadedProperties = Partial<Record<ScalarProperty, string | number | null>> & {
  graduatedRanges?: { fromValue: string; toValue?: string | null; perUnitAmount: string; flatAmount: string }[] | null;
  volumeRanges?: { fromValue: string; toValue?: string | null; perUnitAmount: string; flatAmount: string }[] | null;
  graduatedPercentageRanges?: { fromValue: string; toValue?: string | null; rate: string; flatAmount: string }[] | null;
};

/** A stored charge's properties back as an input: nulls and other models' fields left out. */
export function loadedPropertiesInput(properties: LoadedProperties): ChargePropertiesInput {
  const input: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(properties)) {
    if (value === null || value === undefined || name === "__typename") continue;
    input[name] = Array.isArray(value) ? value.map((r) => ({ ...r, toValue: r.toValue ?? null })) : value;
  }
  return input as ChargePropertiesInput;
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
  const p = charge.properties;
  const ranges = p.graduatedRanges ?? p.volumeRanges ?? p.graduatedPercentageRanges ?? null;
  const values: Partial<Record<ScalarProperty, string>> = {};
  for (const { name } of MODEL_FIELDS[charge.model]) {
    const value = p[name];
    if (value !== null && value !== undefined) values[name] = String(value);
  }
  return {
    key: nextKey(),
    billableMetricCode: charge.billableMetric.code,
    model: charge.model,
    payInAdvance: charge.payInAdvance,
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
    quantity: "",
    prorated: charge.prorated,
    minAmount: charge.minAmount ?? null,
    invoiceDisplayName: charge.invoiceDisplayName ?? null,
    filters: charge.filters.map((f) => ({
      values: f.values,
      invoiceDisplayName: f.invoiceDisplayName ?? null,
      properties: loadedPropertiesInput(f.properties),
    })),
  };
}
