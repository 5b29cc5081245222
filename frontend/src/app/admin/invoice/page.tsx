"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useState } from "react";
import { CreditNoteForm } from "@/components/CreditNoteForm";
import { InvoicePayments, RecordPaymentForm } from "@/components/InvoicePayments";
import { PageHead, pending, withSuspense } from "@/components/Page";
import { StatusBadge } from "@/components/StatusBadge";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole } from "@/lib/auth";
import { formatDate, formatDateTime, formatDecimal, formatMoney, humanize } from "@/lib/format";
import { creditable } from "@/lib/creditNotes";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const InvoiceQuery = graphql(`
  query InvoiceDetail($id: ID!) {
    invoice(id: $id) {
      id
      number
      status
      kind
      currency
      periodStart
      periodEnd
      issuedAt
      dueAt
      subtotalAmount
      discountAmount
      progressiveBillingCreditAmount
      taxAmount
      totalAmount
      creditNotesAmount
      creditsAmount
      amountDue
      reverseCharge
      notes
      pdfUrl
      paymentStatus
      amountPaid
      paidAt
      markedUncollectibleAt
      paymentReference
      nextPaymentAttemptAt
      customer {
        externalId
        name
      }
      payments {
        id
        provider
        method
        status
        amount
        refundedAmount
        currency
        providerPaymentId
        reference
        createdAt
      }
      paymentAttempts {
        id
        number
        status
        amount
        declineCode
        hardDecline
        retryable
        failureMessage
        actionUrl
        createdAt
      }
      lines {
        id
        kind
        description
        billableMetricCode
        units
        amount
        discountAmount
        taxAmount
      }
      creditNotes {
        id
        number
        kind
        amount
        reason
        createdAt
        pdfUrl
      }
    }
  }
`);

const FinalizeInvoice = graphql(`
  mutation FinalizeInvoice($id: ID!) {
    finalizeInvoice(input: { id: $id }) {
      invoice {
        id
        status
        number
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const VoidInvoice = graphql(`
  mutation VoidInvoice($id: ID!) {
    voidInvoice(input: { id: $id }) {
      invoice {
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

const CollectInvoice = graphql(`
  mutation CollectInvoice($id: ID!) {
    collectInvoice(input: { id: $id }) {
      invoice {
        id
        status
        paymentStatus
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ResendInvoiceEmail = graphql(`
  mutation ResendInvoiceEmail($id: ID!) {
    resendInvoiceEmail(input: { invoiceId: $id }) {
      invoice {
        id
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Outcome = { tone: "success" | "error"; text: string } | null;

function InvoiceDetail() {
  const id = useSearchParams().get("id") ?? "";
  const role = useRole();
  const { data, error, loading, refetch } = useQuery(InvoiceQuery, { id }, { skip: !id });
  const [finalize, finalizing] = useMutation(FinalizeInvoice);
  const [voidIt, voiding] = useMutation(VoidInvoice);
  const [collect, collecting] = useMutation(CollectInvoice);
  const [resend, resending] = useMutation(ResendInvoiceEmail);
  const [confirmVoid, setConfirmVoid] = useState(false);
  const [recording, setRecording] = useState(false);
  const [crediting, setCrediting] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);

  if (!id) return <Empty>No invoice chosen: pick one from the invoices list.</Empty>;
  const waiting = pending({ data, error, loading, refetch }, "the invoice");
  if (waiting) return waiting;
  const invoice = data?.invoice;
  if (!invoice) {
    return (
      <Empty>
        There is no invoice with this id. <Link href="/admin/invoices">Back to the invoices</Link>
      </Empty>
    );
  }
  const money = (amount: string) => formatMoney(amount, invoice.currency);
  const mayAct = may(role, "actOnInvoices");
  const title = invoice.number ? `Invoice ${invoice.number}` : "Draft invoice";

  async function act(run: () => Promise<{ userErrors: { message: string }[] }>, done: string) {
    setOutcome(null);
    try {
      const payload = await run();
      if (payload.userErrors.length) setOutcome({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
      else setOutcome({ tone: "success", text: done });
      refetch();
    } catch (failure) {
      setOutcome({ tone: "error", text: failure instanceof ApiError ? failure.message : "The action failed." });
    }
  }

  return (
    <>
      <PageHead
        title={title}
        heading={
          <>
            {title} <StatusBadge status={invoice.status} />
          </>
        }
        section={{ href: "/admin/invoices", label: "Invoices" }}
        actions={
          <>
          {invoice.pdfUrl ? (
            <a className="button secondary" href={invoice.pdfUrl} target="_blank" rel="noopener">
              Open PDF<span className="visually-hidden"> (opens in a new tab; the link is valid for an hour)</span>
            </a>
          ) : null}
          {mayAct && invoice.status === "DRAFT" ? (
            <button type="button" disabled={finalizing} onClick={() => act(async () => (await finalize({ id })).finalizeInvoice, "The invoice is finalized: it has its number and is open for payment.")}>
              {finalizing ? "Finalizing…" : "Finalize"}
            </button>
          ) : null}
          {mayAct && invoice.status === "OPEN" ? (
            <button
              type="button"
              disabled={collecting}
              onClick={() =>
                act(async () => (await collect({ id })).collectInvoice, "Collection is started with the customer's default payment method: the payments below show the outcome.")
              }
            >
              {collecting ? "Collecting…" : "Collect now"}
            </button>
          ) : null}
          {mayAct && (invoice.status === "OPEN" || invoice.status === "PAID") ? (
            <button type="button" className="secondary" aria-expanded={recording} aria-controls="record-payment" onClick={() => setRecording((r) => !r)}>
              Record payment…
            </button>
          ) : null}
          {mayAct && creditable(invoice.status) ? (
            <button type="button" className="secondary" aria-expanded={crediting} aria-controls="credit-note" onClick={() => setCrediting((c) => !c)}>
              Credit note…
            </button>
          ) : null}
          {mayAct && invoice.status !== "DRAFT" && invoice.status !== "VOID" ? (
            <button
              type="button"
              className="secondary"
              disabled={resending}
              onClick={() =>
                act(async () => (await resend({ id })).resendInvoiceEmail, "The invoice email is on its way to the customer again, with its PDF.")
              }
            >
              {resending ? "Sending…" : "Resend email"}
            </button>
          ) : null}
          {mayAct && (invoice.status === "DRAFT" || invoice.status === "OPEN") ? (
            <button type="button" className="secondary" aria-expanded={confirmVoid} aria-controls="void-confirm" onClick={() => setConfirmVoid((v) => !v)}>
              Void…
            </button>
          ) : null}
          </>
        }
      />
      {confirmVoid ? (
        <div id="void-confirm" className="confirm" role="group" aria-label="Confirm voiding">
          <span>Void this invoice? It stays on record but is no longer due. This cannot be undone.</span>
          <button
            type="button"
            className="danger"
            disabled={voiding}
            onClick={async () => {
              await act(async () => (await voidIt({ id })).voidInvoice, "The invoice is void.");
              setConfirmVoid(false);
            }}
          >
            {voiding ? "Voiding…" : "Void invoice"}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirmVoid(false)}>
            Cancel
          </button>
        </div>
      ) : null}
      {outcome ? (
        <p className={`notice ${outcome.tone}`} role={outcome.tone === "error" ? "alert" : "status"}>
          {outcome.text}
        </p>
      ) : null}

      {crediting ? (
        <CreditNoteForm
          invoice={invoice}
          onCancel={() => setCrediting(false)}
          onDone={(text) => {
            setCrediting(false);
            setOutcome({ tone: "success", text });
            refetch();
          }}
        />
      ) : null}

      {recording ? (
        <RecordPaymentForm
          invoice={invoice}
          onCancel={() => setRecording(false)}
          onDone={(text) => {
            setRecording(false);
            setOutcome({ tone: "success", text });
            refetch();
          }}
        />
      ) : null}

      <section className="panel" aria-labelledby="invoice-facts">
        <h2 id="invoice-facts">Summary</h2>
        <dl className="facts">
          <div>
            <dt>Customer</dt>
            <dd>
              <Link href={`/admin/customer?id=${encodeURIComponent(invoice.customer.externalId)}`}>
                {invoice.customer.name || invoice.customer.externalId}
              </Link>
            </dd>
          </div>
          <div>
            <dt>Kind</dt>
            <dd>{humanize(invoice.kind)}</dd>
          </div>
          <div>
            <dt>Period</dt>
            <dd>
              {formatDate(invoice.periodStart)} – {formatDate(invoice.periodEnd)}
            </dd>
          </div>
          <div>
            <dt>Issued</dt>
            <dd>{formatDateTime(invoice.issuedAt)}</dd>
          </div>
          <div>
            <dt>Due</dt>
            <dd>{formatDate(invoice.dueAt)}</dd>
          </div>
          <div>
            <dt>Amount due</dt>
            <dd>
              <strong>{money(invoice.amountDue)}</strong>
            </dd>
          </div>
          <div>
            <dt>Paid</dt>
            <dd>
              {money(invoice.amountPaid)} <StatusBadge status={invoice.paymentStatus} />
              {invoice.paidAt ? <div className="muted">on {formatDateTime(invoice.paidAt)}</div> : null}
            </dd>
          </div>
          {invoice.paymentReference ? (
            <div>
              <dt>Payment reference</dt>
              <dd className="mono">{invoice.paymentReference}</dd>
            </div>
          ) : null}
          {invoice.markedUncollectibleAt ? (
            <div>
              <dt>Marked uncollectible</dt>
              <dd>{formatDateTime(invoice.markedUncollectibleAt)}</dd>
            </div>
          ) : null}
          {invoice.nextPaymentAttemptAt ? (
            <div>
              <dt>Next collection attempt</dt>
              <dd>{formatDateTime(invoice.nextPaymentAttemptAt)}</dd>
            </div>
          ) : null}
        </dl>
        {invoice.reverseCharge ? <p>Reverse charge: the customer accounts for the VAT.</p> : null}
        {invoice.notes ? <p>{invoice.notes}</p> : null}
      </section>

      <h2>Lines</h2>
      {invoice.lines.length === 0 ? (
        <Empty>This invoice has no lines.</Empty>
      ) : (
        <Table caption="Invoice lines">
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col">Kind</th>
              <th scope="col" className="num">
                Units
              </th>
              <th scope="col" className="num">
                Amount
              </th>
              <th scope="col" className="num">
                Discount
              </th>
              <th scope="col" className="num">
                Tax
              </th>
            </tr>
          </thead>
          <tbody>
            {invoice.lines.map((line) => (
              <tr key={line.id}>
                <td>
                  {line.description}
                  {line.billableMetricCode ? <span className="muted mono"> {line.billableMetricCode}</span> : null}
                </td>
                <td>{humanize(line.kind)}</td>
                <td className="num">{line.units === null || line.units === undefined ? "—" : formatDecimal(line.units)}</td>
                <td className="num">{money(line.amount)}</td>
                <td className="num">{money(line.discountAmount)}</td>
                <td className="num">{money(line.taxAmount)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}

      <Table caption="Totals">
        <tbody>
          {[
            ["Subtotal", invoice.subtotalAmount],
            ["Discounts", invoice.discountAmount],
            ["Billed earlier in the period", invoice.progressiveBillingCreditAmount],
            ["Tax", invoice.taxAmount],
            ["Total", invoice.totalAmount],
            ["Credit notes", invoice.creditNotesAmount],
            ["Prepaid credits", invoice.creditsAmount],
            ["Amount due", invoice.amountDue],
          ].map(([label, amount]) => (
            <tr key={label}>
              <th scope="row">{label}</th>
              <td className="num">{money(amount)}</td>
            </tr>
          ))}
        </tbody>
      </Table>

      <InvoicePayments
        invoice={invoice}
        mayAct={mayAct}
        onDone={(text) => {
          setOutcome({ tone: "success", text });
          refetch();
        }}
      />

      {invoice.creditNotes.length ? (
        <>
          <h2>Credit notes</h2>
          <Table caption="Credit notes of this invoice">
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Kind</th>
                <th scope="col">Reason</th>
                <th scope="col">Created</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {invoice.creditNotes.map((note) => (
                <tr key={note.id}>
                  <td>
                    <a href={note.pdfUrl} target="_blank" rel="noopener">
                      {note.number}
                      <span className="visually-hidden"> (PDF, opens in a new tab)</span>
                    </a>
                  </td>
                  <td>{humanize(note.kind)}</td>
                  <td>{note.reason || "—"}</td>
                  <td>{formatDateTime(note.createdAt)}</td>
                  <td className="num">{money(note.amount)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      ) : null}
    </>
  );
}

export default withSuspense(InvoiceDetail, "the invoice");
