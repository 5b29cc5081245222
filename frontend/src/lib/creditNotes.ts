// The credit note form's input: by amount (tax included) or by invoice line (each line's part before tax;
// an empty amount credits all that is left of the line). The API checks what can still be credited.

import type { CreateCreditNoteInput, CreditNoteKind } from "@/gql/graphql";
import type { UserError } from "./auth";

const DECIMAL = /^\d+(\.\d+)?$/;

/** An amount as typed ("12,50" or " 12.50 ") as the API's decimal text ("12.50"). */
export function decimalText(typed: string): string {
  return typed.trim().replace(",", ".");
}

export type LineChoice = { chosen: boolean; amount: string };

export type CreditNoteDraft = {
  kind: CreditNoteKind;
  by: "amount" | "lines";
  amount: string;
  reason: string;
  lines: Record<string, LineChoice>;
};

export function emptyDraft(kind: CreditNoteKind = "CREDIT"): CreditNoteDraft {
  return { kind, by: "amount", amount: "", reason: "", lines: {} };
}

/** The mutation's input, and which invoice line each sent line is (the API names lines by their index). */
export function creditNoteInput(invoiceId: string, draft: CreditNoteDraft, lineOrder: string[]): { input: CreateCreditNoteInput; lineIds: string[] } {
  const reason = draft.reason.trim();
  if (draft.by === "amount") {
    return { input: { invoiceId, kind: draft.kind, amount: decimalText(draft.amount) || null, reason }, lineIds: [] };
  }
  const lineIds = lineOrder.filter((id) => draft.lines[id]?.chosen);
  const lines = lineIds.map((id) => {
    const amount = decimalText(draft.lines[id].amount);
    return amount ? { invoiceLineId: id, amount } : { invoiceLineId: id };
  });
  return { input: { invoiceId, kind: draft.kind, lines, reason }, lineIds };
}

/** Which statuses a credit note may be issued against (the API refuses drafts and void invoices). */
export function creditable(status: string): boolean {
  return status === "OPEN" || status === "PAID" || status === "UNCOLLECTIBLE";
}

/** What the form can tell before asking the API: amounts that are not decimals, nothing chosen. Shaped as the
 * API's userErrors (the same field paths), so that both are shown in one place. */
export function draftProblems(draft: CreditNoteDraft, lineOrder: string[]): UserError[] {
  const { input } = creditNoteInput("", draft, lineOrder);
  const problem = (field: string[], message: string): UserError => ({ field: ["input", ...field], code: "INVALID_DECIMAL", message });
  if (draft.by === "amount") {
    if (!input.amount) return [problem(["amount"], "Give the amount to credit, tax included.")];
    return DECIMAL.test(input.amount) ? [] : [problem(["amount"], "A positive number such as 12.50.")];
  }
  if (!input.lines?.length) return [problem(["lines"], "Choose at least one line to credit.")];
  return input.lines.flatMap((line, index) =>
    line.amount && !DECIMAL.test(String(line.amount)) ? [problem(["lines", String(index), "amount"], "A positive number such as 12.50, or empty for all of the line.")] : [],
  );
}
