import { describe, expect, it } from "vitest";
import { checkRange, defaultRange, formatDay, formatPercent, periodLabel } from "@/lib/revenue";

describe("the revenue range", () => {
  it("defaults to the last twelve months, from the first day of the month eleven months ago", () => {
    expect(defaultRange(new Date("2026-12-03T09:00:00Z"))).toEqual({ from: "2026-01-01", to: "2026-12-03" });
    expect(defaultRange(new Date("2026-03-15T12:00:00Z"))).toEqual({ from: "2025-04-01", to: "2026-03-15" });
  });

  it("refuses what the API refuses, at the field to change", () => {
    expect(checkRange("2026-01-01", "2026-12-31")).toBeNull();
    expect(checkRange("", "2026-12-31")?.field).toBe("from");
    expect(checkRange("2026-02-30", "2026-12-31")?.field).toBe("from"); // not a real day
    expect(checkRange("2026-05-01", "2026-04-30")).toMatchObject({ field: "to" });
    expect(checkRange("2021-01-01", "2025-12-31")).toBeNull();
    expect(checkRange("2021-01-01", "2026-01-01")?.message).toMatch(/5 years/);
  });
});

describe("labels", () => {
  it("names a whole month by its month, a part of one by its days", () => {
    expect(periodLabel({ periodStart: "2026-03-01", periodEnd: "2026-03-31" }, "MONTH", "en-US")).toBe("Mar 2026");
    expect(periodLabel({ periodStart: "2026-03-10", periodEnd: "2026-03-31" }, "MONTH", "en-US")).toBe("Mar 10, 2026–Mar 31, 2026");
    expect(periodLabel({ periodStart: "2026-03-02", periodEnd: "2026-03-08" }, "WEEK", "en-US")).toBe("wk of Mar 2, 2026");
  });

  it("reads plain dates on the calendar, whatever the viewer's time zone", () => {
    expect(formatDay("2026-01-01", "en-US")).toBe("Jan 1, 2026");
  });

  it("shows percentages with up to two decimals, and none as a dash", () => {
    expect(formatPercent("97.5", "en-US")).toBe("97.5 %");
    expect(formatPercent("101.256", "en-US")).toBe("101.26 %");
    expect(formatPercent(null)).toBe("—");
  });
});
