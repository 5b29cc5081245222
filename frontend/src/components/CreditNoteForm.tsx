"use client";

import { useState, type FormEvent } from "react";
import { graphql } from "@/gql";
import type { CreditNoteKind } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { creditNoteInput, draftProblems, emptyDraft, type CreditNoteDraft } from "@/lib/creditNotes";
import { formatMoney } from "@/lib/format";
import { errorAtPath, errorsElsewhere } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";
import { Field, FormProblems, TextField } from "./Field";

const CreateCreditNote = graphql(`
  mutation CreateCreditNote($input: CreateCreditNoteInput!) {
    createCreditNote(input: $input) {
      creditNote {
        id
        number
        amount
        currency
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Line = { id: string; description: string; amount: string; discountAmount: string };
type Invoice = { id: string; status: string; currency: string; amountPaid: string; lines: Line[] };

/** Issue a credit note against an open or paid invoice: by amount or by line, with a reason; the API's
 * userErrors are shown at their fields. */
export function CreditNoteForm({ invoice, onCancel, onDone }: { invoice: Invoice; onCancel(): void; onDone(text: string): void }) {
  const [create, creating] = useMutation(CreateCreditNote);
  const [draft, setDraft] = useState<CreditNoteDraft>(emptyDraft());
  const [errors, setErrors] = useState<UserError[]>([]);
  const [sentLines, setSentLines] = useState<string[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const order = invoice.lines.map((l) => l.id);
  const set = (change: Partial<CreditNoteDraft>) => setDraft((d) => ({ ...d, ...change }));
  const setLine = (id: string, change: Partial<{ chosen: boolean; amount: string }>) =>
    setDraft((d) => ({ ...d, lines: { ...d.lines, [id]: { ...(d.lines[id] ?? { chosen: false, amount: "" }), ...change } } }));
  // A line's error names its index among the lines sent: back to the invoice line it was.
  const lineError = (id: string, name: string) => {
    const index = sentLines.indexOf(id);
    return index < 0 ? undefined : errorAtPath(errors, "lines", String(index), name);
  };
  const linePaths = sentLines.flatMap((_, i) => [["lines", String(i), "amount"], ["lines", String(i), "invoiceLineId"]]);
  const general = errorsElsewhere(errors, [["amount"], ["lines"], ["reason"], ["kind"], ...linePaths]);
  const amountError = errorAtPath(errors, "amount");
  const linesError = errorAtPath(errors, "lines");
  const money = (amount: string) => formatMoney(amount, invoice.currency);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    const { input, lineIds } = creditNoteInput(invoice.id, draft, order);
    setSentLines(lineIds);
    const local = draftProblems(draft, order);
    if (local.length) {
      setErrors(local);
      return;
    }
    try {
      const payload = (await create({ input })).createCreditNote;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.creditNote) {
        const note = payload.creditNote;
        onDone(`Credit note ${note.number} is issued for ${formatMoney(note.amount, note.currency)}.`);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The credit note could not be issued.");
    }
  }

  return (
    <form id="credit-note" className="panel" onSubmit={submit} aria-labelledby="credit-note-title" noValidate>
      <h2 id="credit-note-title">Issue a credit note</h2>
      <FormProblems failure={failure} messages={general} />
      <Field id="credit-kind" label="Kind" hint="A credit lowers what is due (or credits the next invoices once paid); a refund returns money paid.">
        <select id="credit-kind" value={draft.kind} onChange={(e) => set({ kind: e.target.value as CreditNoteKind })} aria-describedby="credit-kind-hint">
          <option value="CREDIT">Credit</option>
          <option value="REFUND" disabled={invoice.amountPaid === "0" || /^0(\.0+)?$/.test(invoice.amountPaid)}>
            Refund (of {money(invoice.amountPaid)} paid)
          </option>
        </select>
      </Field>
      <fieldset className="options">
        <legend>Credit</legend>
        <label>
          <input type="radio" name="credit-by" checked={draft.by === "amount"} onChange={() => set({ by: "amount" })} /> An amount
        </label>
        <label>
          <input type="radio" name="credit-by" checked={draft.by === "lines"} onChange={() => set({ by: "lines" })} /> By line
        </label>
      </fieldset>
      {draft.by === "amount" ? (
        <TextField id="credit-amount" label="Amount" hint={`Tax included, in ${invoice.currency}.`} error={amountError} inputMode="decimal" value={draft.amount} onChange={(amount) => set({ amount })} />
      ) : (
        <div className="field" role="group" aria-labelledby="credit-lines-label" aria-describedby={linesError ? "credit-lines-error" : undefined}>
          <span id="credit-lines-label">Lines to credit (before tax; empty: all that is left of the line; its tax goes back with it)</span>
          {linesError ? (
            <span className="error" id="credit-lines-error">
              {linesError}
            </span>
          ) : null}
          {invoice.lines.map((line) => {
            const choice = draft.lines[line.id] ?? { chosen: false, amount: "" };
            const error = lineError(line.id, "amount") ?? lineError(line.id, "invoiceLineId");
            const id = `credit-line-${line.id}`;
            return (
              <div key={line.id} className="field-inline line-choice">
                <label>
                  <input type="checkbox" checked={choice.chosen} onChange={(e) => setLine(line.id, { chosen: e.target.checked })} /> {line.description} ({money(line.amount)})
                </label>
                {choice.chosen ? (
                  <>
                    <label htmlFor={id} className="visually-hidden">
                      Amount of {line.description}
                    </label>
                    <input
                      id={id}
                      inputMode="decimal"
                      placeholder="All"
                      value={choice.amount}
                      onChange={(e) => setLine(line.id, { amount: e.target.value })}
                      aria-invalid={!!error}
                      aria-describedby={error ? `${id}-error` : undefined}
                    />
                    {error ? (
                      <span className="error" id={`${id}-error`}>
                        {error}
                      </span>
                    ) : null}
                  </>
                ) : null}
              </div>
            );
          })}
        </div>
      )}
      <TextField id="credit-reason" label="Reason" hint="Printed on the credit note." error={errorAtPath(errors, "reason")} maxLength={300} value={draft.reason} onChange={(reason) => set({ reason })} />
      <div className="actions">
        <button type="submit" disabled={creating}>
          {creating ? "Issuing…" : "Issue credit note"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
