// Bank statement imports: which format a chosen file is, and why a line was not matched, in words.

import type { BankStatementFormat, BankTransactionUnmatchedReason } from "@/gql/graphql";
import { formatMoney, subtractDecimal } from "./format";

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

/** Lines that are no customer's payment (the API refuses to match them: BANK_TRANSACTION_NOT_A_PAYMENT). */
const NOT_PAYMENTS: BankTransactionUnmatchedReason[] = ["DEBIT", "NOT_BOOKED", "REVERSAL"];

/** Whether an unmatched line may be matched to an invoice by hand. */
export function matchable(line: { status: string; direction: string; reason?: BankTransactionUnmatchedReason | null }): boolean {
  return line.status === "UNMATCHED" && line.direction === "CREDIT" && !(line.reason && NOT_PAYMENTS.includes(line.reason));
}

/** matchBankTransaction's userErrors in words (the API's own message for a code not listed). */
export const MATCH_ERROR_WORDS: Record<string, string> = {
  BANK_TRANSACTION_ALREADY_MATCHED: "This line is matched already (perhaps by someone else a moment ago): it paid an invoice once and cannot pay another. Nothing was recorded.",
  BANK_TRANSACTION_NOT_A_PAYMENT: "This line is not money received (paid out, pending or a reversal): there is nothing to match.",
  BANK_TRANSACTION_IGNORED: "This line was ignored (perhaps by someone else a moment ago): restore it under “Ignored lines” before matching it. Nothing was recorded.",
  BANK_TRANSACTION_NOT_FOUND: "This line is no longer on record. Reload the page.",
  INVOICE_NOT_FOUND: "That invoice is not found. Choose another one.",
  INVOICE_NOT_OPEN: "That invoice is not open for payment any more (paid or void in the meantime). Choose another one.",
  CURRENCY_MISMATCH: "That invoice is in another currency than the line. Choose an invoice in the line's currency.",
};

export function matchErrorWords(error: { code: string; message: string }): string {
  return MATCH_ERROR_WORDS[error.code] ?? error.message;
}

/** Whether a decimal text is zero ("0", "0.00", "-0.0"). */
export function isZero(value: string): boolean {
  return /^-?[0.]*$/.test(value);
}

/** What recording a line of `amount` on an invoice still owing `owed` does to it, in words (as the API applies it:
 * partly paid, paid, or paid with the excess as the customer's prepaid credit). */
export function matchConsequence(amount: string, owed: string, currency: string): string {
  const rest = subtractDecimal(owed, amount);
  if (isZero(rest)) return "The invoice is then paid.";
  if (!rest.startsWith("-")) return `The invoice is then partly paid: ${formatMoney(rest, currency)} still due.`;
  return `The invoice is then paid, and the ${formatMoney(rest.slice(1), currency)} paid beyond it becomes the customer's prepaid credit.`;
}

/** The longest note an ignored line keeps (the API refuses a longer one: TOO_LONG at input.note). */
export const MAX_IGNORE_NOTE = 500;

/** Whether a line may be ignored: an unmatched one (any reason: a debit or a pending entry too). */
export function ignorable(line: { status: string }): boolean {
  return line.status === "UNMATCHED";
}

/** ignoreBankTransaction's and restoreBankTransaction's userErrors in words (the API's own message otherwise). */
export const IGNORE_ERROR_WORDS: Record<string, string> = {
  BANK_TRANSACTION_ALREADY_MATCHED: "This line is matched already (perhaps by someone else a moment ago): it paid an invoice and cannot be ignored.",
  BANK_TRANSACTION_ALREADY_IGNORED: "This line is ignored already (perhaps by someone else a moment ago).",
  BANK_TRANSACTION_NOT_IGNORED: "This line is not ignored any more (perhaps restored or matched by someone else a moment ago): nothing to restore.",
  BANK_TRANSACTION_NOT_FOUND: "This line is no longer on record. Reload the page.",
  TOO_LONG: `The note is too long: at most ${MAX_IGNORE_NOTE} characters.`,
  INVALID_TEXT: "The note contains characters that cannot be stored.",
};

export function ignoreErrorWords(error: { code: string; message: string }): string {
  return IGNORE_ERROR_WORDS[error.code] ?? error.message;
}
