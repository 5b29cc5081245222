"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { BankIgnoreForm } from "@/components/BankIgnoreForm";
import { BankMatchForm, type Matched } from "@/components/BankMatchForm";
import { Field, FormProblems } from "@/components/Field";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { BankStatementFormat, BankTransactionUnmatchedReason } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { ignorable, ignoreErrorWords, matchable, MAX_STATEMENT_BYTES, statementFormat, UNMATCHED_WORDS } from "@/lib/bank";
import { formatDate, formatDateTime, formatMoney } from "@/lib/format";
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
    ignoredAt
    ignoredBy
    ignoreNote
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

const RestoreTransaction = graphql(`
  mutation RestoreBankTransaction($input: RestoreBankTransactionInput!) {
    restoreBankTransaction(input: $input) {
      transaction {
        id
        status
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const TransactionsQuery = graphql(`
  query BankTransactions($first: Int, $after: String, $unmatchedAfter: String) {
    unmatchedBankTransactions(first: 50, after: $unmatchedAfter) {
      ...BankTransactionPage
    }
    ignoredBankTransactions: bankTransactions(status: IGNORED, first: 50) {
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
  ignoredAt?: string | null;
  ignoredBy?: string | null;
  ignoreNote?: string | null;
};

type MatchControl = { current: string | null; open(row: Row): void };

function amountOf(t: Row): string {
  return `${t.direction === "DEBIT" ? "−" : ""}${formatMoney(t.amount, t.currency)}`;
}

/** Which line a row's button acts on, for screen readers: every row has the same buttons. */
function lineWords(t: Row): string {
  return `the line of ${amountOf(t)} booked ${formatDate(t.bookedAt)}`;
}

/** `match`: the review table's "Match to invoice" button on each line that is money received; `ignore`: its
 * "Ignore" button on each unmatched line. */
function TransactionTable({ caption, rows, busy, match, ignore }: { caption: string; rows: Row[]; busy: boolean; match?: MatchControl; ignore?: MatchControl }) {
  const actions = !!(match || ignore);
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
          {actions ? (
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
            <td className="num">{amountOf(t)}</td>
            <td>
              {t.status === "IGNORED" ? (
                <>
                  <span className="badge">Ignored</span> {t.reason ? UNMATCHED_WORDS[t.reason] : null}
                </>
              ) : t.status === "MATCHED" ? (
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
            {actions ? (
              <td>
                <div className="actions nowrap">
                  {match && matchable(t) ? (
                    <button type="button" className="secondary nowrap" aria-expanded={match.current === t.id} aria-controls="match-line" onClick={() => match.open(t)}>
                      Match to invoice<span className="visually-hidden"> {lineWords(t)}</span>
                    </button>
                  ) : null}
                  {ignore && ignorable(t) ? (
                    <button type="button" className="secondary nowrap" aria-expanded={ignore.current === t.id} aria-controls="ignore-line" onClick={() => ignore.open(t)}>
                      Ignore<span className="visually-hidden"> {lineWords(t)}</span>
                    </button>
                  ) : null}
                </div>
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** The lines staff ignored, with who, when and why; `restore` puts one back to review. */
function IgnoredTable({ rows, busy, restore, restoring }: { rows: Row[]; busy: boolean; restore?: (row: Row) => void; restoring: string | null }) {
  return (
    <Table caption="Ignored lines, newest first">
      <thead>
        <tr>
          <th scope="col">Booked</th>
          <th scope="col" className="num">
            Amount
          </th>
          <th scope="col">Why unmatched</th>
          <th scope="col">Reference</th>
          <th scope="col">Ignored</th>
          <th scope="col">Note</th>
          {restore ? (
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
            <td className="num">{amountOf(t)}</td>
            <td>{t.reason ? UNMATCHED_WORDS[t.reason] : "—"}</td>
            <td>
              <span className="mono">{t.reference ?? "—"}</span>
              {t.counterparty ? <div className="muted">{t.counterparty}</div> : null}
            </td>
            <td>
              {t.ignoredAt ? formatDateTime(t.ignoredAt) : "—"}
              {t.ignoredBy ? <div className="muted">by {t.ignoredBy}</div> : null}
            </td>
            <td>{t.ignoreNote ?? <span className="muted">No note</span>}</td>
            {restore ? (
              <td>
                <button type="button" className="secondary nowrap" disabled={restoring === t.id} onClick={() => restore(t)}>
                  {restoring === t.id ? "Restoring…" : "Restore"}<span className="visually-hidden"> {lineWords(t)}</span>
                </button>
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
  const [ignoring, setIgnoring] = useState<Row | null>(null);
  const [reviewNotice, setReviewNotice] = useState<string | null>(null);
  const [restoreIt] = useMutation(RestoreTransaction);
  const [restoring, setRestoring] = useState<string | null>(null);
  const [restoreProblem, setRestoreProblem] = useState<string | null>(null);
  const [restored, setRestored] = useState<string | null>(null);
  const match: MatchControl | undefined = mayImport
    ? {
        current: matching?.id ?? null,
        open: (row) => {
          setMatched(null);
          setReviewNotice(null);
          setIgnoring(null);
          setMatching((open) => (open?.id === row.id ? null : row));
        },
      }
    : undefined;
  const ignore: MatchControl | undefined = mayImport
    ? {
        current: ignoring?.id ?? null,
        open: (row) => {
          setMatched(null);
          setReviewNotice(null);
          setMatching(null);
          setIgnoring((open) => (open?.id === row.id ? null : row));
        },
      }
    : undefined;

  async function restore(row: Row) {
    setRestoreProblem(null);
    setRestored(null);
    setRestoring(row.id);
    try {
      const payload = (await restoreIt({ input: { id: row.id } })).restoreBankTransaction;
      if (payload.userErrors.length) {
        setRestoreProblem(payload.userErrors.map(ignoreErrorWords).join(" "));
      } else {
        setRestored(`The ${amountOf(row)} line of ${formatDate(row.bookedAt)} is restored: it is to review again.`);
      }
      query.refetch();
    } catch (error) {
      setRestoreProblem(error instanceof ApiError ? error.message : "The line could not be restored.");
    } finally {
      setRestoring(null);
    }
  }

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
  const ignoredLines = query.data?.ignoredBankTransactions;
  return (
    <>
      <PageHead title="Bank statements" />
      <p className="muted">Bank transfers that quote an invoice&apos;s payment reference (or number) are recorded as its payments; the other lines wait here for review, where money received can be matched to an open invoice by hand, and a line that will never be matched can be ignored (and restored).</p>
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
      {reviewNotice ? (
        <p className="notice success" role="status">
          {reviewNotice}
        </p>
      ) : null}
      <ConnectionView connection={unmatched} state={query} what="the unmatched lines" noun="unmatched lines" empty="No unmatched lines: every imported line was matched to an invoice or ignored.">
        {(nodes) => (
          <>
            <TransactionTable caption="Unmatched lines, newest first" rows={nodes} busy={query.loading} match={match} ignore={ignore} />
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
      {ignoring ? (
        <BankIgnoreForm
          key={ignoring.id}
          line={ignoring}
          onCancel={() => setIgnoring(null)}
          onDone={(text) => {
            setIgnoring(null);
            setReviewNotice(text);
            setRestored(null);
            query.refetch();
          }}
        />
      ) : null}

      <h2>Ignored lines</h2>
      <p className="muted">Lines staff dismissed as never to be matched (a supplier&apos;s refund, a transfer between own accounts). Restored, a line is to review again.</p>
      {restoreProblem ? (
        <div className="notice error" role="alert">
          <p>{restoreProblem}</p>
        </div>
      ) : null}
      {restored ? (
        <p className="notice success" role="status">
          {restored}
        </p>
      ) : null}
      <ConnectionView connection={ignoredLines} state={query} what="the ignored lines" noun="ignored lines" empty="No ignored lines.">
        {(nodes) => (
          <>
            <IgnoredTable rows={nodes} busy={query.loading} restore={mayImport ? restore : undefined} restoring={restoring} />
            {ignoredLines && ignoredLines.totalCount > nodes.length ? <p className="muted">The {nodes.length} newest of {ignoredLines.totalCount} ignored lines.</p> : null}
          </>
        )}
      </ConnectionView>

      <h2>All imported lines</h2>
      <ConnectionView connection={query.data?.bankTransactions} state={query} what="the imported lines" noun="imported lines" empty="No statement imported yet." pager={pager}>
        {(nodes) => <TransactionTable caption="Imported lines, newest first" rows={nodes} busy={query.loading} />}
      </ConnectionView>
    </>
  );
}
