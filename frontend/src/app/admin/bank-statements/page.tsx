"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { BankMatchForm, type Matched } from "@/components/BankMatchForm";
import { Field, FormProblems } from "@/components/Field";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { BankStatementFormat, BankTransactionUnmatchedReason } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { matchable, MAX_STATEMENT_BYTES, statementFormat, UNMATCHED_WORDS } from "@/lib/bank";
import { formatDate, formatMoney } from "@/lib/format";
import { describedBy, errorsByField } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const PAGE_SIZE = 25;

const ImportStatement = graphql(`
  mutation ImportBankStatement($input: ImportBankStatementInput!) {
    importBankStatement(input: $input) {
      matched {
        amount
        reference
        invoice {
          id
          number
          status
        }
      }
      unmatched {
        id
      }
      alreadyImported
      account
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const TransactionFields = graphql(`
  fragment BankTransactionRow on BankTransaction {
    id
    status
    reason
    amount
    currency
    direction
    reference
    remittance
    counterparty
    bookedAt
    invoiceId
  }
`);
void TransactionFields; // spread below; codegen adds its text to the documents that use it

const TransactionPage = graphql(`
  fragment BankTransactionPage on BankTransactionConnection {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    nodes {
      ...BankTransactionRow
    }
  }
`);
void TransactionPage;

const TransactionsQuery = graphql(`
  query BankTransactions($first: Int, $after: String, $unmatchedAfter: String) {
    unmatchedBankTransactions(first: 50, after: $unmatchedAfter) {
      ...BankTransactionPage
    }
    bankTransactions(first: $first, after: $after) {
      ...BankTransactionPage
    }
  }
`);

type Row = {
  id: string;
  status: string;
  reason?: BankTransactionUnmatchedReason | null;
  amount: string;
  currency: string;
  direction: string;
  reference?: string | null;
  remittance?: string | null;
  counterparty?: string | null;
  bookedAt: string;
  invoiceId?: string | null;
};

type MatchControl = { current: string | null; open(row: Row): void };

/** `match`: the review table's "Match to invoice" button on each line that is money received. */
function TransactionTable({ caption, rows, busy, match }: { caption: string; rows: Row[]; busy: boolean; match?: MatchControl }) {
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          <th scope="col">Booked</th>
          <th scope="col" className="num">
            Amount
          </th>
          <th scope="col">Status</th>
          <th scope="col">Reference</th>
          <th scope="col">From</th>
          {match ? (
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          ) : null}
        </tr>
      </thead>
      <tbody aria-busy={busy}>
        {rows.map((t) => (
          <tr key={t.id}>
            <td>{formatDate(t.bookedAt)}</td>
            <td className="num">
              {t.direction === "DEBIT" ? "−" : ""}
              {formatMoney(t.amount, t.currency)}
            </td>
            <td>
              {t.status === "MATCHED" ? (
                t.invoiceId ? (
                  <Link href={`/admin/invoice?id=${encodeURIComponent(t.invoiceId)}`}>Matched</Link>
                ) : (
                  "Matched"
                )
              ) : (
                <>
                  <span className="badge warn">Unmatched</span> {t.reason ? UNMATCHED_WORDS[t.reason] : null}
                </>
              )}
            </td>
            <td>
              <span className="mono">{t.reference ?? "—"}</span>
              {t.remittance && t.remittance !== t.reference ? <div className="muted">{t.remittance}</div> : null}
            </td>
            <td>{t.counterparty ?? "—"}</td>
            {match ? (
              <td>
                {matchable(t) ? (
                  <button type="button" className="secondary nowrap" aria-expanded={match.current === t.id} aria-controls="match-line" onClick={() => match.open(t)}>
                    Match to invoice
                  </button>
                ) : null}
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

type Outcome = { matched: number; unmatched: number; alreadyImported: number; account?: string | null; invoices: { id: string; number?: string | null }[] };

export default function BankStatementsPage() {
  const role = useRole();
  const pager = useCursorPager();
  const query = useQuery(TransactionsQuery, { first: PAGE_SIZE, after: pager.after, unmatchedAfter: null });
  const [importIt, importing] = useMutation(ImportStatement);
  const [file, setFile] = useState<File | null>(null);
  const [format, setFormat] = useState<BankStatementFormat | "">("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const { at, general } = errorsByField(errors, ["content", "format"]);
  const fileError = at("content");
  const mayImport = may(role, "bankStatements");
  const [matching, setMatching] = useState<Row | null>(null);
  const [matched, setMatched] = useState<Matched | null>(null);
  const match: MatchControl | undefined = mayImport
    ? {
        current: matching?.id ?? null,
        open: (row) => {
          setMatched(null);
          setMatching((open) => (open?.id === row.id ? null : row));
        },
      }
    : undefined;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    setOutcome(null);
    if (!file) {
      setErrors([{ field: ["input", "content"], code: "REQUIRED", message: "Choose a camt.053 (XML) or CSV statement file." }]);
      return;
    }
    if (file.size > MAX_STATEMENT_BYTES) {
      setErrors([{ field: ["input", "content"], code: "TOO_LARGE", message: "The file is larger than 2 MiB: split the statement by date." }]);
      return;
    }
    const content = await file.text();
    try {
      const payload = (await importIt({ input: { format: format || statementFormat(file.name, content), content } })).importBankStatement;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length) {
        setOutcome({
          matched: payload.matched.length,
          unmatched: payload.unmatched.length,
          alreadyImported: payload.alreadyImported,
          account: payload.account,
          invoices: payload.matched.map((m) => m.invoice),
        });
        query.refetch();
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The statement could not be imported.");
    }
  }

  const unmatched = query.data?.unmatchedBankTransactions;
  return (
    <>
      <PageHead title="Bank statements" />
      <p className="muted">Bank transfers that quote an invoice&apos;s payment reference (or number) are recorded as its payments; the other lines wait here for review, where money received can be matched to an open invoice by hand.</p>
      {mayImport ? (
        <form className="panel" onSubmit={submit} aria-labelledby="import-statement" noValidate>
          <h2 id="import-statement">Import a statement</h2>
          <FormProblems failure={failure} messages={general} />
          <Field id="statement-file" label="Statement file" hint="camt.053 (ISO 20022 XML) or CSV with booking_date, amount, currency, reference columns; at most 2 MiB." error={fileError}>
            <input
              id="statement-file"
              type="file"
              accept=".xml,.csv,.txt,application/xml,text/xml,text/csv"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              aria-invalid={!!fileError}
              aria-describedby={describedBy("statement-file", true, fileError)}
            />
          </Field>
          <Field id="statement-format" label="Format" error={at("format")}>
            <select id="statement-format" value={format} onChange={(e) => setFormat(e.target.value as BankStatementFormat | "")}>
              <option value="">From the file</option>
              <option value="CAMT053">camt.053 (XML)</option>
              <option value="CSV">CSV</option>
            </select>
          </Field>
          <button type="submit" disabled={importing}>
            {importing ? "Importing…" : "Import statement"}
          </button>
          {outcome ? (
            <div className="notice success" role="status" style={{ marginTop: "0.75rem" }}>
              <p>
                <strong>
                  {outcome.matched} matched · {outcome.unmatched} unmatched
                </strong>
                {outcome.alreadyImported ? ` · ${outcome.alreadyImported} imported before (nothing recorded again)` : ""}
                {outcome.account ? ` · account ${outcome.account}` : ""}
              </p>
              {outcome.invoices.length ? (
                <p>
                  Paid:{" "}
                  {outcome.invoices.map((invoice, i) => (
                    <span key={`${invoice.id}-${i}`}>
                      {i ? ", " : ""}
                      <Link href={`/admin/invoice?id=${encodeURIComponent(invoice.id)}`}>{invoice.number ?? invoice.id}</Link>
                    </span>
                  ))}
                </p>
              ) : null}
            </div>
          ) : null}
        </form>
      ) : null}

      <h2>To review</h2>
      {matched ? (
        <p className="notice success" role="status">
          {matched.text}{" "}
          <Link href={`/admin/invoice?id=${encodeURIComponent(matched.invoice.id)}`}>Open invoice {matched.invoice.number ?? matched.invoice.id}</Link>
        </p>
      ) : null}
      <ConnectionView connection={unmatched} state={query} what="the unmatched lines" noun="unmatched lines" empty="No unmatched lines: every imported line was matched to an invoice.">
        {(nodes) => (
          <>
            <TransactionTable caption="Unmatched lines, newest first" rows={nodes} busy={query.loading} match={match} />
            {unmatched && unmatched.totalCount > nodes.length ? <p className="muted">The {nodes.length} newest of {unmatched.totalCount} unmatched lines.</p> : null}
          </>
        )}
      </ConnectionView>
      {matching ? (
        <BankMatchForm
          key={matching.id}
          line={matching}
          onCancel={() => setMatching(null)}
          onDone={(done) => {
            setMatching(null);
            setMatched(done);
            query.refetch();
          }}
        />
      ) : null}

      <h2>All imported lines</h2>
      <ConnectionView connection={query.data?.bankTransactions} state={query} what="the imported lines" noun="imported lines" empty="No statement imported yet." pager={pager}>
        {(nodes) => <TransactionTable caption="Imported lines, newest first" rows={nodes} busy={query.loading} />}
      </ConnectionView>
    </>
  );
}
