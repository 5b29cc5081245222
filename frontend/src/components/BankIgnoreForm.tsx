"use client";

import { useState, type FormEvent } from "react";
import { Field, FormProblems } from "@/components/Field";
import { graphql } from "@/gql";
import type { UserError } from "@/lib/auth";
import { ignoreErrorWords, MAX_IGNORE_NOTE } from "@/lib/bank";
import { formatDate, formatMoney } from "@/lib/format";
import { describedBy, errorsByField } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";

const IgnoreTransaction = graphql(`
  mutation IgnoreBankTransaction($input: IgnoreBankTransactionInput!) {
    ignoreBankTransaction(input: $input) {
      transaction {
        id
        status
        ignoredAt
        ignoredBy
        ignoreNote
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

export type IgnoreLine = { id: string; amount: string; currency: string; direction: string; bookedAt: string; counterparty?: string | null; reference?: string | null };

/** An unmatched bank statement line dismissed, with an optional note (ignoreBankTransaction); restored from the
 * page's "Ignored lines" (restoreBankTransaction). */
export function BankIgnoreForm({ line, onDone, onCancel }: { line: IgnoreLine; onDone(text: string): void; onCancel(): void }) {
  const [note, setNote] = useState("");
  const [ignoreIt, ignoring] = useMutation(IgnoreTransaction);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const amount = `${line.direction === "DEBIT" ? "−" : ""}${formatMoney(line.amount, line.currency)}`;
  const worded = errors.map((e) => ({ ...e, message: ignoreErrorWords(e) }));
  const { at, general } = errorsByField(worded, ["note"]);
  const noteError = at("note");

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    if (note.length > MAX_IGNORE_NOTE) {
      setErrors([{ field: ["input", "note"], code: "TOO_LONG", message: `at most ${MAX_IGNORE_NOTE} characters` }]);
      return;
    }
    try {
      const payload = (await ignoreIt({ input: { id: line.id, note: note.trim() || null } })).ignoreBankTransaction;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.transaction) {
        onDone(`The ${amount} line of ${formatDate(line.bookedAt)} is ignored: it is listed under “Ignored lines”, where it can be restored.`);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The line could not be ignored.");
    }
  }

  return (
    <form id="ignore-line" className="panel" onSubmit={submit} aria-labelledby="ignore-line-title" noValidate>
      <h2 id="ignore-line-title">Ignore the {amount} line</h2>
      <p className="muted">
        Booked {formatDate(line.bookedAt)}
        {line.counterparty ? ` from ${line.counterparty}` : ""}
        {line.reference ? `, reference “${line.reference}”` : ""}. An ignored line is no longer to review and cannot be matched; it can be restored.
      </p>
      <FormProblems failure={failure} messages={general} />
      <Field id="ignore-note" label="Note (optional)" hint={`Why it will never be matched, e.g. a supplier's refund; at most ${MAX_IGNORE_NOTE} characters.`} error={noteError}>
        <textarea
          id="ignore-note"
          rows={2}
          value={note}
          onChange={(e) => {
            setNote(e.target.value);
            setErrors([]);
          }}
          aria-invalid={!!noteError}
          aria-describedby={describedBy("ignore-note", true, noteError)}
        />
      </Field>
      <div className="actions">
        <button type="submit" disabled={ignoring}>
          {ignoring ? "Ignoring…" : "Ignore line"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
