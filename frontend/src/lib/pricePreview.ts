// The plan editor's live price preview: what to ask chargePricePreview for a charge's default price and for
// each of its filters that has prices of its own, with the labels shown beside each amount.
import type { ChargeModel, ChargePropertiesInput } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { MODEL_FIELDS, RANGES_FIELD, filterSummary, propertiesInput, type ChargeDraft, type FilterDraft, type PropertiesDraft } from "@/lib/plans";

export type PreviewInput = { model: ChargeModel; properties: ChargePropertiesInput; quantity: string; currency: string };

/** One price to preview: the charge's default or one filter's; `input` is null while a field it needs is blank. */
export type PreviewTarget = {
  /** "default" or "filter-<j>": the key of the target (and of its test ids). */
  key: string;
  /** The filter's position in the charge, or null for the charge's default price. */
  filter: number | null;
  /** In words, beside the amount: "Default price", "region: eu". */
  label: string;
  input: PreviewInput | null;
};

const blank = (value: string | undefined) => (value ?? "").trim() === "";

/** Whether a filter's properties hold a price of its own (a value typed in one of the model's fields or tiers). */
export function hasOwnPrice(model: ChargeModel, draft: PropertiesDraft): boolean {
  if (RANGES_FIELD[model]) {
    return draft.tiers.some((t) => !blank(model === "GRADUATED_PERCENTAGE" ? t.rate : t.perUnitAmount));
  }
  return MODEL_FIELDS[model].some(({ name }) => !blank(draft.values[name]));
}

/** A filter's label: its dimension values in words ("region: eu, us; tier: gold"). */
export function filterLabel(filter: FilterDraft): string {
  return filterSummary(filter);
}

function input(model: ChargeModel, draft: PropertiesDraft, quantity: string, currency: string): PreviewInput | null {
  const properties = propertiesInput(model, draft);
  if (properties === null || quantity === "" || currency === "") return null;
  return { model, properties, quantity, currency };
}

/** The prices the preview asks for: the charge's default, then each filter with a price of its own, in order. */
export function previewTargets(charge: ChargeDraft, currency: string): PreviewTarget[] {
  const quantity = charge.quantity.trim();
  const cur = currency.trim();
  const targets: PreviewTarget[] = [{ key: "default", filter: null, label: "Default price", input: input(charge.model, charge, quantity, cur) }];
  charge.filters.forEach((filter, j) => {
    if (!hasOwnPrice(charge.model, filter)) return;
    targets.push({ key: `filter-${j}`, filter: j, label: filterLabel(filter), input: input(charge.model, filter, quantity, cur) });
  });
  return targets;
}

/** The field path under which a target's userErrors are shown: the quantity and currency are the charge's own
 * fields whatever price is previewed; the properties belong to the filter ("charges.0.filters.1"). */
export function previewErrorPrefix(error: UserError, charge: number, filter: number | null): string {
  const parts = error.field?.[0] === "input" ? error.field.slice(1) : (error.field ?? []);
  if (filter === null || parts[0] !== "properties") return `charges.${charge}`;
  return `charges.${charge}.filters.${filter}`;
}
