"use client";

import { useState, type FormEvent } from "react";
import { FormProblems, TextField } from "@/components/Field";
import { ErrorNotice, Loading } from "@/components/States";
import { graphql } from "@/gql";
import type { UserError } from "@/lib/auth";
import { isZero, matchConsequence, matchErrorWords } from "@/lib/bank";
import { formatDate, formatMoney, subtractDecimal } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useDebounced, useMutation, useQuery } from "@/lib/hooks";

const InvoicesToMatch = graphql(`
  query InvoicesToMatchBankTransaction($transactionId: ID!, $search: String) {
    invoicesToMatchBankTransaction(transactionId: $transactionId, search: $search, first: 10) {
      id
      number
      currency
      amountDue
      amountPaid
      dueAt
      customer {
        externalId
        name
      }
    }
  }
`);

const MatchTransaction = graphql(`
  mutation MatchBankTransaction($input: MatchBankTransactionInput!) {
    matchBankTransaction(input: $input) {
      transaction {
        id
        status
      }
      invoice {
        id
        number
        status
        currency
        amountDue
        amountPaid
      }
      payment {
        id
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

export type MatchLine = { id: string; amount: string; currency: string; bookedAt: string; counterparty?: string | null; reference?: string | null };
export type Matched = { text: string; invoice: { id: string; number?: string | null } };

/** An unmatched bank statement line recorded as a payment of an open invoice chosen here (matchBankTransaction). */
export function BankMatchForm({ line, onDone, onCancel }: { line: MatchLine; onDone(matched: Matched): void; onCancel(): void }) {
  const [search, setSearch] = useState("");
  const settled = useDebounced(search.trim(), 250);
  const candidates = useQuery(InvoicesToMatch, { transactionId: line.id, search: settled || null });
  const [matchIt, matching] = useMutation(MatchTransaction);
  const [chosen, setChosen] = useState<string | null>(null);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const invoices = candidates.data?.invoicesToMatchBankTransaction ?? [];
  const picked = invoices.find((i) => i.id === chosen) ?? null;
  const amount = formatMoney(line.amount, line.currency);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    if (!picked) {
      setErrors([{ field: ["input", "invoiceId"], code: "REQUIRED", message: "Choose the invoice this line pays." }]);
      return;
    }
    try {
      const payload = (await matchIt({ input: { id: line.id, invoiceId: picked.id } })).matchBankTransaction;
      setErrors(payload.userErrors);
      const invoice = payload.invoice;
      if (!payload.userErrors.length && invoice) {
        const state = invoice.status === "PAID" ? "it is paid" : `${formatMoney(subtractDecimal(invoice.amountDue, invoice.amountPaid), invoice.currency)} of it is still due`;
        onDone({ text: `${amount} is recorded as a payment of invoice ${invoice.number ?? invoice.id}: ${state}.`, invoice });
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The line could not be matched.");
    }
  }

  return (
    <form id="match-line" className="panel" onSubmit={submit} aria-labelledby="match-line-title" noValidate>
      <h2 id="match-line-title">Match {amount} to an invoice</h2>
      <p className="muted">
        Booked {formatDate(line.bookedAt)}
        {line.counterparty ? ` from ${line.counterparty}` : ""}
        {line.reference ? `, reference “${line.reference}”` : ""}. It is recorded as the invoice&apos;s payment, as if the line had named it.
      </p>
      <FormProblems failure={failure} messages={errors.map((e) => ({ code: e.code, message: matchErrorWords(e) }))} />
      <TextField
        id="match-search"
        label="Find an open invoice"
        hint={`Invoice number, payment reference or customer. Open invoices in ${line.currency}; those owing exactly ${amount} come first.`}
        value={search}
        onChange={(value) => {
          setSearch(value);
          setChosen(null);
        }}
        autoComplete="off"
      />
      {candidates.error ? (
        <ErrorNotice error={candidates.error} onRetry={candidates.refetch} what="the open invoices" />
      ) : candidates.loading && !candidates.data ? (
        <Loading what="open invoices" />
      ) : (
        <fieldset className="match-choices" aria-busy={candidates.loading}>
          <legend>Open invoices in {line.currency}</legend>
          {invoices.length ? (
            invoices.map((invoice) => {
              const owed = subtractDecimal(invoice.amountDue, invoice.amountPaid);
              return (
                <label key={invoice.id}>
                  <input
                    type="radio"
                    name="match-invoice"
                    value={invoice.id}
                    checked={chosen === invoice.id}
                    onChange={() => {
                      setChosen(invoice.id);
                      setErrors([]);
                    }}
                  />
                  <span>
                    <span className="mono">{invoice.number ?? invoice.id}</span> · {invoice.customer.name} · {formatMoney(owed, invoice.currency)} due
                    {invoice.dueAt ? ` by ${formatDate(invoice.dueAt)}` : ""}
                    {isZero(subtractDecimal(owed, line.amount)) ? (
                      <>
                        {" "}
                        <span className="badge">exact amount</span>
                      </>
                    ) : null}
                  </span>
                </label>
              );
            })
          ) : (
            <p className="muted">{settled ? `No open invoice in ${line.currency} matches “${settled}”.` : `No open invoice in ${line.currency} has anything left to pay.`}</p>
          )}
        </fieldset>
      )}
      {picked ? (
        <p className="notice info" aria-live="polite">
          Record {amount} as a payment of <span className="mono">{picked.number ?? picked.id}</span> ({picked.customer.name})?{" "}
          {matchConsequence(line.amount, subtractDecimal(picked.amountDue, picked.amountPaid), line.currency)}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={matching}>
          {matching ? "Recording…" : "Record payment"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
