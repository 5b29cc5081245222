// Bank statement imports: which format a chosen file is, and why a line was not matched, in words.

import type { BankStatementFormat, BankTransactionUnmatchedReason } from "@/gql/graphql";

/** CAMT053 for an ISO 20022 XML file (by its name or its first characters), CSV otherwise. */
export function statementFormat(fileName: string, text: string): BankStatementFormat {
  if (/\.(xml|camt|053)$/i.test(fileName)) return "CAMT053";
  if (/\.(csv|txt)$/i.test(fileName)) return "CSV";
  const start = text.replace(/^\uFEFF/, "").trimStart();
  return start.startsWith("<") ? "CAMT053" : "CSV";
}

export const UNMATCHED_WORDS: Record<BankTransactionUnmatchedReason, string> = {
  DEBIT: "Money paid out, not received",
  NOT_BOOKED: "Not booked yet (pending at the bank)",
  REVERSAL: "A reversal of an earlier line",
  NO_REFERENCE: "No invoice reference in the line",
  UNKNOWN_REFERENCE: "The reference names no invoice",
  CURRENCY_MISMATCH: "Another currency than the invoice's",
  INVOICE_NOT_OPEN: "The invoice it names is not open",
};

/** The largest file the API takes (its request body is limited to 2 MiB, the JSON around the text included). */
export const MAX_STATEMENT_BYTES = 2 * 1024 * 1024 - 4096;
