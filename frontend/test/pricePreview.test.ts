import { describe, expect, it } from "vitest";
import { hasOwnPrice, previewErrorPrefix, previewTargets } from "@/lib/pricePreview";
import { newCharge, newFilter, toggleDimension, type ChargeDraft } from "@/lib/plans";

const REGIONS = ["eu", "us", "apac"];

function callsCharge(): ChargeDraft {
  const charge = { ...newCharge("calls"), model: "STANDARD" as const, values: { amount: "0.10" }, quantity: " 150 " };
  const eu = { ...toggleDimension(newFilter(), "region", "eu", true, REGIONS), values: { amount: "0.25" } };
  const us = toggleDimension(newFilter(), "region", "us", true, REGIONS); // no price of its own
  const apac = { ...toggleDimension(newFilter(), "region", "apac", true, REGIONS), values: { amount: "0.5" } };
  charge.filters = [eu, us, apac];
  return charge;
}

describe("the price preview's requests", () => {
  it("asks for the default price and for each filter with a price of its own, labelled with its values", () => {
    expect(previewTargets(callsCharge(), " USD ")).toEqual([
      { key: "default", filter: null, label: "Default price", input: { model: "STANDARD", properties: { amount: "0.10" }, quantity: "150", currency: "USD" } },
      { key: "filter-0", filter: 0, label: "region: eu", input: { model: "STANDARD", properties: { amount: "0.25" }, quantity: "150", currency: "USD" } },
      { key: "filter-2", filter: 2, label: "region: apac", input: { model: "STANDARD", properties: { amount: "0.5" }, quantity: "150", currency: "USD" } },
    ]);
  });

  it("asks nothing while the quantity or currency is blank", () => {
    const charge = { ...callsCharge(), quantity: "  " };
    expect(previewTargets(charge, "USD").map((t) => t.input)).toEqual([null, null, null]);
    expect(previewTargets(callsCharge(), "").every((t) => t.input === null)).toBe(true);
  });

  it("asks nothing for a filter whose tiers are incomplete, but still shows it", () => {
    const charge = { ...newCharge("calls"), quantity: "10" }; // graduated
    charge.tiers = [{ ...charge.tiers[0]!, perUnitAmount: "1" }];
    const eu = toggleDimension(newFilter(), "region", "eu", true, REGIONS);
    eu.tiers = [{ ...eu.tiers[0]!, perUnitAmount: "2" }, { ...eu.tiers[0]!, key: 99, fromValue: "", perUnitAmount: "1" }];
    charge.filters = [eu];
    const [main, filter] = previewTargets(charge, "EUR");
    expect(main?.input?.properties).toEqual({ graduatedRanges: [{ fromValue: "0", toValue: null, perUnitAmount: "1", flatAmount: "0" }] });
    expect(filter).toMatchObject({ key: "filter-0", label: "region: eu", input: null });
  });

  it("knows a filter's own price by a typed value of the model's fields", () => {
    expect(hasOwnPrice("STANDARD", { values: {}, tiers: [] })).toBe(false);
    expect(hasOwnPrice("STANDARD", { values: { amount: " " }, tiers: [] })).toBe(false);
    expect(hasOwnPrice("PACKAGE", { values: { freeUnits: "3" }, tiers: [] })).toBe(true);
    expect(hasOwnPrice("GRADUATED", newFilter())).toBe(false);
    const f = newFilter();
    expect(hasOwnPrice("GRADUATED_PERCENTAGE", { ...f, tiers: [{ ...f.tiers[0]!, rate: "1.5" }] })).toBe(true);
  });
});

describe("where a filter preview's userErrors are shown", () => {
  it("on the filter's properties, and on the charge's quantity and currency", () => {
    const at = (field: string[]) => ({ field, code: "X", message: "m" });
    expect(previewErrorPrefix(at(["input", "properties", "amount"]), 1, 2)).toBe("charges.1.filters.2");
    expect(previewErrorPrefix(at(["input", "quantity"]), 1, 2)).toBe("charges.1");
    expect(previewErrorPrefix(at(["input", "properties", "amount"]), 1, null)).toBe("charges.1");
  });
});
