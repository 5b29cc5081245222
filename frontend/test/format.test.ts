import { describe, expect, it } from "vitest";
import { addDecimals, countOf, formatDate, formatDateTime, formatDecimal, formatMoney, formatUnitPrice, humanize, subtractDecimal } from "@/lib/format";

// Intl puts a narrow or plain no-break space between some amounts and their symbol: compare with plain spaces.
const plain = (text: string) => text.replace(/[\u00a0\u202f]/g, " ");

describe("formatMoney", () => {
  it("formats by the locale and the currency's own minor units", () => {
    expect(formatMoney("1234.5", "USD", "en-US")).toBe("$1,234.50");
    expect(plain(formatMoney("1234.5", "EUR", "de-DE"))).toBe("1.234,50 €");
    expect(formatMoney("1234", "JPY", "en-US")).toBe("¥1,234");
    expect(plain(formatMoney("1.234", "KWD", "en-US"))).toBe("KWD 1.234");
  });

  it("reads the decimal string exactly: no binary float rounds a large amount", () => {
    expect(formatMoney("12345678901234567.89", "USD", "en-US")).toBe("$12,345,678,901,234,567.89");
    expect(formatMoney("0.1", "USD", "en-US")).toBe("$0.10");
  });

  it("shows a dash for no amount and still formats an unknown currency code", () => {
    expect(formatMoney(null, "USD")).toBe("—");
    expect(formatMoney("", "USD")).toBe("—");
    expect(formatMoney("5", "not a currency", "en-US")).toBe("5.00");
  });
});

describe("decimals and unit prices", () => {
  it("keeps every decimal a unit price has", () => {
    expect(formatUnitPrice("0.000125", "USD", "en-US")).toBe("$0.000125");
    expect(formatDecimal("1234.5678", "en-US")).toBe("1,234.5678");
  });

  it("adds and subtracts decimal strings exactly", () => {
    expect(addDecimals("49", "12.50")).toBe("61.50");
    expect(addDecimals("0.1", "0.2")).toBe("0.3");
    expect(addDecimals("-5.25", "2")).toBe("-3.25");
    expect(subtractDecimal("49.00", "20")).toBe("29.00");
    expect(subtractDecimal("1", "1.005")).toBe("-0.005");
  });
});

describe("dates", () => {
  it("shows instants in the viewer's time zone", () => {
    // 23:30 UTC on 31 December is already the new year in Berlin.
    expect(formatDate("2026-12-31T23:30:00Z", "en-GB")).toBe("1 Jan 2027");
    expect(formatDateTime("2026-06-01T10:00:00+00:00", "en-GB")).toBe("1 Jun 2026, 12:00");
  });

  it("passes through what is not a date and shows a dash for none", () => {
    expect(formatDate("soon")).toBe("soon");
    expect(formatDateTime(null)).toBe("—");
  });
});

it("humanizes the API's enum values", () => {
  expect(humanize("PAST_DUE")).toBe("Past due");
  expect(humanize("ACTIVE")).toBe("Active");
});

describe("countOf", () => {
  it("makes the first plural word singular for one, and leaves other counts alone", () => {
    expect(countOf(1, "invoices")).toBe("1 invoice");
    expect(countOf(0, "invoices")).toBe("0 invoices");
    expect(countOf(2, "entries")).toBe("2 entries");
    expect(countOf(1, "entries")).toBe("1 entry");
    expect(countOf(1, "deliveries")).toBe("1 delivery");
    expect(countOf(1, "staff users")).toBe("1 staff user");
    expect(countOf(1, "unmatched lines")).toBe("1 unmatched line");
    expect(countOf(1, "invoices with a failed payment")).toBe("1 invoice with a failed payment");
    expect(countOf(1, "open invoices")).toBe("1 open invoice");
  });
});
