import { describe, expect, it } from "vitest";
import { describedBy, errorAtPath, errorsByField, errorsElsewhere, errorsUnder, localToIso } from "@/lib/forms";

const errors = [
  { field: ["input", "amount"], code: "CREDIT_NOTE_TOO_LARGE", message: "at most 10.00 USD" },
  { field: ["input", "lines", "1", "amount"], code: "INVALID_AMOUNT", message: "line 2 too much" },
  { field: ["input", "retryIntervals", "2"], code: "INVALID_DURATION", message: "P1M has no fixed length" },
  { field: null, code: "CONFLICT", message: "retry" },
];

describe("userErrors at their fields", () => {
  it("finds errors by the last part of their path, the rest are general", () => {
    const { at, general } = errorsByField(errors, ["amount"]);
    expect(at("amount")).toBe("at most 10.00 USD");
    expect(general.map((e) => e.code)).toEqual(["INVALID_DURATION", "CONFLICT"]);
  });

  it("finds an error by its whole path, so that a line's amount is not the form's amount", () => {
    expect(errorAtPath(errors, "lines", "1", "amount")).toBe("line 2 too much");
    expect(errorAtPath(errors, "lines", "0", "amount")).toBeUndefined();
    expect(errorsElsewhere(errors, [["amount"], ["lines", "1", "amount"]]).map((e) => e.code)).toEqual(["INVALID_DURATION", "CONFLICT"]);
  });

  it("lists the errors under a path with the item they name", () => {
    expect(errorsUnder(errors, "retryIntervals")).toEqual([{ index: 2, message: "P1M has no fixed length" }]);
    expect(errorsUnder(errors, "amount")).toEqual([{ index: null, message: "at most 10.00 USD" }]);
  });

  it("describes a control by its hint and its error", () => {
    expect(describedBy("x", true, "bad")).toBe("x-hint x-error");
    expect(describedBy("x", false, undefined)).toBeUndefined();
  });
});

it("reads a datetime-local value in the viewer's time zone", () => {
  expect(localToIso("2026-07-01T12:00")).toBe("2026-07-01T10:00:00.000Z"); // Berlin, summer time
  expect(localToIso("")).toBeNull();
  expect(localToIso("not a date")).toBeNull();
});
