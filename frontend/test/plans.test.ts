import { describe, expect, it } from "vitest";
import {
  chargeFromPlan,
  chargeInput,
  chargePaths,
  filtersForMetric,
  incompletePart,
  newCharge,
  newFilter,
  overridePaths,
  overridesDraft,
  planOverridesInput,
  prorationBlocker,
  sentOverrideIndex,
  toggleDimension,
  type ChargeDraft,
} from "@/lib/plans";

const REGIONS = ["eu", "us", "apac"];

function seatsCharge(): ChargeDraft {
  const charge = newCharge("seats");
  charge.model = "STANDARD";
  charge.values = { amount: "10" };
  charge.prorated = true;
  charge.minAmount = " 25.50 ";
  charge.invoiceDisplayName = "Seats";
  let filter = newFilter();
  filter = toggleDimension(filter, "region", "us", true, REGIONS);
  filter = toggleDimension(filter, "region", "eu", true, REGIONS);
  filter.values = { amount: "12" };
  filter.invoiceDisplayName = "Seats (EU and US)";
  charge.filters = [filter];
  return charge;
}

describe("a charge with filters as the API reads it", () => {
  it("sends proration, the charge minimum, the invoice name and each filter with the charge's model", () => {
    expect(chargeInput(seatsCharge())).toEqual({
      billableMetricCode: "seats",
      model: "STANDARD",
      properties: { amount: "10" },
      payInAdvance: false,
      prorated: true,
      minAmount: "25.50",
      invoiceDisplayName: "Seats",
      filters: [{ values: { region: ["eu", "us"] }, properties: { amount: "12" }, invoiceDisplayName: "Seats (EU and US)" }],
    });
  });

  it("sends blanks as none: no minimum, the metric's name, no filters", () => {
    const charge = { ...newCharge("calls"), model: "STANDARD" as const, values: { amount: "1" } };
    expect(chargeInput(charge)).toMatchObject({ minAmount: null, invoiceDisplayName: null, filters: null, prorated: false });
  });

  it("keeps ticked values in the metric's order and leaves out a dimension with none ticked", () => {
    let filter = toggleDimension(newFilter(), "region", "apac", true, REGIONS);
    filter = toggleDimension(filter, "region", "eu", true, REGIONS);
    expect(filter.dimensions.region).toEqual(["eu", "apac"]);
    filter = toggleDimension(filter, "tier", "gold", true, ["gold"]);
    filter = toggleDimension(filter, "tier", "gold", false, ["gold"]);
    const charge = { ...newCharge("calls"), model: "STANDARD" as const, values: { amount: "1" }, filters: [{ ...filter, values: { amount: "2" } }] };
    expect(chargeInput(charge)?.filters?.[0]?.values).toEqual({ region: ["eu", "apac"] });
  });

  it("is not sent while a filter's tier lacks a price, and says which part", () => {
    const charge = newCharge("calls"); // graduated, one tier
    charge.tiers = [{ ...charge.tiers[0]!, perUnitAmount: "1" }];
    charge.filters = [newFilter()]; // its tier has no price yet
    expect(chargeInput(charge)).toBeNull();
    expect(incompletePart(charge)).toBe("the tiers of its filter 1");
    charge.filters = [{ ...charge.filters[0]!, tiers: [{ ...charge.filters[0]!.tiers[0]!, perUnitAmount: "2" }] }];
    expect(incompletePart(charge)).toBeNull();
    expect(chargeInput(charge)?.filters?.[0]?.properties.graduatedRanges).toEqual([{ fromValue: "0", toValue: null, perUnitAmount: "2", flatAmount: "0" }]);
  });
});

describe("a stored charge back in the editor", () => {
  const stored = {
    model: "GRADUATED" as const,
    payInAdvance: false,
    prorated: true,
    minAmount: "25.5",
    invoiceDisplayName: "Seats",
    billableMetric: { code: "seats" },
    properties: {
      amount: null,
      graduatedRanges: [{ fromValue: "0", toValue: null, perUnitAmount: "10", flatAmount: "0" }],
      volumeRanges: null,
      graduatedPercentageRanges: null,
    },
    filters: [
      {
        values: { region: ["eu"] },
        invoiceDisplayName: null,
        properties: { graduatedRanges: [{ fromValue: "0", toValue: "10", perUnitAmount: "12", flatAmount: "5" }, { fromValue: "11", toValue: null, perUnitAmount: "8", flatAmount: "0" }] },
      },
    ],
  };

  it("loads every field, the filters' tiers too, and saves them unchanged", () => {
    const draft = chargeFromPlan(stored);
    expect(draft).toMatchObject({ prorated: true, minAmount: "25.5", invoiceDisplayName: "Seats" });
    expect(draft.filters[0]?.dimensions).toEqual({ region: ["eu"] });
    expect(draft.filters[0]?.tiers.map((t) => [t.fromValue, t.toValue, t.perUnitAmount, t.flatAmount])).toEqual([
      ["0", "10", "12", "5"],
      ["11", "", "8", "0"],
    ]);
    expect(chargeInput(draft)).toEqual({
      billableMetricCode: "seats",
      model: "GRADUATED",
      properties: { graduatedRanges: stored.properties.graduatedRanges },
      payInAdvance: false,
      prorated: true,
      minAmount: "25.5",
      invoiceDisplayName: "Seats",
      filters: [{ values: { region: ["eu"] }, invoiceDisplayName: null, properties: stored.filters[0]!.properties }],
    });
  });

  it("shows the API's errors on the filter's own controls", () => {
    const paths = chargePaths(chargeFromPlan(stored), 2);
    expect(paths).toContain("charges.2.minAmount");
    expect(paths).toContain("charges.2.prorated");
    expect(paths).toContain("charges.2.filters.0.values");
    expect(paths).toContain("charges.2.filters.0.properties.graduatedRanges.1.fromValue");
    expect(paths).not.toContain("charges.2.filters.1.values");
  });
});

describe("proration and a changed metric", () => {
  const seats = { aggregation: "COUNT", recurring: true };
  it("says why a charge cannot be prorated, as the API would refuse it", () => {
    expect(prorationBlocker("STANDARD", false, seats)).toBeNull();
    expect(prorationBlocker("VOLUME", false, { aggregation: "SUM", recurring: true })).toBeNull();
    expect(prorationBlocker("STANDARD", false, { aggregation: "COUNT", recurring: false })).toMatch(/recurring COUNT or SUM/);
    expect(prorationBlocker("STANDARD", false, { aggregation: "MAX", recurring: true })).toMatch(/recurring COUNT or SUM/);
    expect(prorationBlocker("PACKAGE", false, seats)).toMatch(/standard, graduated and volume/);
    expect(prorationBlocker("GRADUATED", true, seats)).toMatch(/in advance/);
  });

  it("keeps only the dimension values the new metric has", () => {
    const filter = { ...newFilter(), dimensions: { region: ["eu", "mars"], plan: ["pro"] } };
    const [kept] = filtersForMetric([filter], { filters: [{ key: "region", values: REGIONS }] });
    expect(kept?.dimensions).toEqual({ region: ["eu"] });
    expect(filtersForMetric([filter], undefined)[0]?.dimensions).toEqual({});
  });
});

describe("a plan change's own prices", () => {
  const plan = [
    { model: "STANDARD" as const, billableMetric: { code: "calls", name: "API calls" }, properties: { amount: "0.01" } },
    { model: "PACKAGE" as const, billableMetric: { code: "storage", name: "Storage" }, properties: { amount: "5", packageSize: "100", freeUnits: null } },
    { model: "STANDARD" as const, billableMetric: { code: "calls", name: "API calls" }, properties: { amount: "0.02" } },
  ];

  it("are nothing until something is overridden", () => {
    const draft = overridesDraft(plan);
    expect(draft.charges.map((c) => [c.billableMetricCode, c.values])).toEqual([
      ["calls", { amount: "0.01" }],
      ["storage", { amount: "5", packageSize: "100" }],
    ]); // one per metric: the API keys charge overrides by metric
    expect(planOverridesInput(draft)).toEqual({ input: null, incomplete: null });
  });

  it("send the fee and the charges ticked, numbered as sent", () => {
    const draft = overridesDraft(plan);
    draft.amount = " 79 ";
    draft.charges[1] = { ...draft.charges[1]!, enabled: true, values: { amount: "4", packageSize: "100" } };
    expect(planOverridesInput(draft)).toEqual({
      input: { amount: "79", charges: [{ billableMetricCode: "storage", properties: { amount: "4", packageSize: "100" } }] },
      incomplete: null,
    });
    expect(sentOverrideIndex(draft, 0)).toBeNull();
    expect(sentOverrideIndex(draft, 1)).toBe(0);
    expect(overridePaths(draft)).toEqual(expect.arrayContaining(["planOverrides.amount", "planOverrides.charges.0.properties.packageSize"]));
  });

  it("wait for a ticked charge's tiers", () => {
    const draft = overridesDraft([{ model: "GRADUATED", billableMetric: { code: "calls", name: "API calls" }, properties: { graduatedRanges: [] } }]);
    draft.charges[0] = { ...draft.charges[0]!, enabled: true, tiers: [{ ...draft.charges[0]!.tiers[0]!, perUnitAmount: "" }] };
    expect(planOverridesInput(draft)).toEqual({ input: null, incomplete: "API calls" });
  });
});
