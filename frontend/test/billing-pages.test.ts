import { describe, expect, it } from "vitest";
import { ignorable, ignoreErrorWords, matchable, matchConsequence, matchErrorWords, statementFormat, UNMATCHED_WORDS } from "@/lib/bank";
import { creditable, creditNoteInput, draftProblems, emptyDraft } from "@/lib/creditNotes";
import { attemptsSummary, durationWords, parseIntervals } from "@/lib/dunning";

describe("the credit note form", () => {
  const lines = ["line-a", "line-b", "line-c"];

  it("sends an amount as the API's decimal text, or nothing when none is typed", () => {
    const draft = { ...emptyDraft(), amount: " 12,50 ", reason: " goodwill " };
    expect(creditNoteInput("inv", draft, lines).input).toEqual({ invoiceId: "inv", kind: "CREDIT", amount: "12.50", reason: "goodwill" });
    expect(creditNoteInput("inv", emptyDraft(), lines).input.amount).toBeNull();
  });

  it("sends the chosen lines in the invoice's order and remembers which line each index is", () => {
    const draft = {
      ...emptyDraft("REFUND"),
      by: "lines" as const,
      lines: { "line-c": { chosen: true, amount: "" }, "line-a": { chosen: true, amount: "3" }, "line-b": { chosen: false, amount: "9" } },
    };
    const { input, lineIds } = creditNoteInput("inv", draft, lines);
    expect(lineIds).toEqual(["line-a", "line-c"]);
    expect(input).toEqual({ invoiceId: "inv", kind: "REFUND", lines: [{ invoiceLineId: "line-a", amount: "3" }, { invoiceLineId: "line-c" }], reason: "" });
  });

  it("tells what it can before asking the API, at the API's field paths", () => {
    expect(draftProblems({ ...emptyDraft(), amount: "ten" }, lines)[0].field).toEqual(["input", "amount"]);
    expect(draftProblems({ ...emptyDraft(), amount: "10" }, lines)).toEqual([]);
    expect(draftProblems({ ...emptyDraft(), by: "lines" }, lines)[0].field).toEqual(["input", "lines"]);
    const bad = { ...emptyDraft(), by: "lines" as const, lines: { "line-b": { chosen: true, amount: "-1" } } };
    expect(draftProblems(bad, lines)[0].field).toEqual(["input", "lines", "0", "amount"]);
  });

  it("is offered on open, paid and uncollectible invoices only", () => {
    expect(["DRAFT", "OPEN", "PAID", "VOID", "UNCOLLECTIBLE"].filter(creditable)).toEqual(["OPEN", "PAID", "UNCOLLECTIBLE"]);
  });
});

describe("dunning", () => {
  it("reads retry intervals as people type them", () => {
    expect(parseIntervals("P1D, p2d  PT12H;P3D")).toEqual(["P1D", "P2D", "PT12H", "P3D"]);
    expect(parseIntervals("  ")).toEqual([]);
  });

  it("says durations in words", () => {
    expect(durationWords("P1D")).toBe("1 day");
    expect(durationWords("PT36H")).toBe("36 hours");
    expect(durationWords("P1DT12H")).toBe("1 day 12 hours");
    expect(durationWords("P2W")).toBe("2 weeks");
    expect(durationWords("P0D")).toBe("at once");
    expect(durationWords("P1M")).toBe("P1M"); // months have no fixed length: left as written
  });

  it("summarizes a chased invoice's attempts", () => {
    const attempts = [
      { number: 2, status: "FAILED", declineCode: "insufficient_funds", hardDecline: false, createdAt: "2026-12-02T10:00:00Z" },
      { number: 1, status: "FAILED", declineCode: "insufficient_funds", hardDecline: false, createdAt: "2026-12-01T10:00:00Z" },
    ];
    expect(attemptsSummary(attempts)).toMatchObject({ made: 2, failed: 2, hard: false, latest: { number: 2 } });
    expect(attemptsSummary([])).toEqual({ made: 0, failed: 0, latest: null, hard: false });
  });
});

describe("bank statements", () => {
  it("takes the format from the file's name, else from its first characters", () => {
    expect(statementFormat("2026-12.xml", "")).toBe("CAMT053");
    expect(statementFormat("export.CSV", "<not xml")).toBe("CSV");
    expect(statementFormat("statement", '\uFEFF  <?xml version="1.0"?><Document/>')).toBe("CAMT053");
    expect(statementFormat("statement", "booking_date,amount,currency")).toBe("CSV");
  });

  it("has words for every reason a line is left unmatched", () => {
    expect(Object.keys(UNMATCHED_WORDS)).toHaveLength(7);
  });

  it("offers to match by hand only unmatched money received", () => {
    expect(matchable({ status: "UNMATCHED", direction: "CREDIT", reason: "UNKNOWN_REFERENCE" })).toBe(true);
    expect(matchable({ status: "UNMATCHED", direction: "CREDIT", reason: "CURRENCY_MISMATCH" })).toBe(true);
    expect(matchable({ status: "MATCHED", direction: "CREDIT", reason: null })).toBe(false);
    expect(matchable({ status: "UNMATCHED", direction: "DEBIT", reason: "DEBIT" })).toBe(false);
    expect(matchable({ status: "UNMATCHED", direction: "CREDIT", reason: "NOT_BOOKED" })).toBe(false);
    expect(matchable({ status: "UNMATCHED", direction: "CREDIT", reason: "REVERSAL" })).toBe(false);
  });

  it("says what a match does to the invoice before it is confirmed", () => {
    expect(matchConsequence("100.00", "100.00", "USD")).toBe("The invoice is then paid.");
    expect(matchConsequence("40", "100.00", "USD")).toContain("partly paid: $60.00 still due");
    expect(matchConsequence("130.00", "100.00", "USD")).toContain("the $30.00 paid beyond it becomes the customer's prepaid credit");
  });

  it("puts a refused match in words, the API's message for a code it does not know", () => {
    expect(matchErrorWords({ code: "BANK_TRANSACTION_ALREADY_MATCHED", message: "x" })).toContain("matched already");
    expect(matchErrorWords({ code: "SOMETHING_NEW", message: "the API says why" })).toBe("the API says why");
    expect(matchErrorWords({ code: "BANK_TRANSACTION_IGNORED", message: "x" })).toContain("restore it");
  });

  it("offers to ignore any unmatched line, and only those", () => {
    expect(ignorable({ status: "UNMATCHED" })).toBe(true);
    expect(ignorable({ status: "MATCHED" })).toBe(false);
    expect(ignorable({ status: "IGNORED" })).toBe(false);
  });

  it("puts a refused ignore or restore in words, the API's message for a code it does not know", () => {
    expect(ignoreErrorWords({ code: "BANK_TRANSACTION_ALREADY_IGNORED", message: "x" })).toContain("ignored already");
    expect(ignoreErrorWords({ code: "BANK_TRANSACTION_NOT_IGNORED", message: "x" })).toContain("nothing to restore");
    expect(ignoreErrorWords({ code: "TOO_LONG", message: "x" })).toContain("at most 500 characters");
    expect(ignoreErrorWords({ code: "SOMETHING_NEW", message: "the API says why" })).toBe("the API says why");
  });
});
