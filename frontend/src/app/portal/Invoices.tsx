"use client";

import { useEffect, useState } from "react";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { StatusBadge } from "@/components/StatusBadge";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { PortalInvoicesQuery } from "@/gql/graphql";
import { ApiError } from "@/lib/graphql";
import { addDecimals, formatDate, formatMoney, humanize } from "@/lib/format";
import { useMutation, useQuery } from "@/lib/hooks";

const PortalInvoices = graphql(`
  query PortalInvoices($customerExternalId: String!) {
    invoices(customerExternalId: $customerExternalId, first: 50) {
      totalCount
      nodes {
        id
        number
        status
        currency
        periodStart
        periodEnd
        issuedAt
        dueAt
        totalAmount
        amountDue
        amountPaid
        paidAt
        paymentStatus
        paymentReference
        pdfUrl
        paymentAttempts {
          status
          actionUrl
        }
        creditNotes {
          id
          number
          kind
          amount
          currency
          createdAt
          pdfUrl
        }
      }
    }
  }
`);

const PayInvoice = graphql(`
  mutation PortalPayInvoice($id: ID!) {
    collectInvoice(input: { id: $id }) {
      invoice {
        id
        status
        paymentStatus
        amountPaid
      }
      userErrors {
        code
        message
      }
    }
  }
`);

type Invoice = PortalInvoicesQuery["invoices"]["nodes"][number];

const PAYMENT_WORDS: Record<string, string> = {
  PENDING: "Not paid yet",
  PROCESSING: "Payment in progress",
  REQUIRES_ACTION: "Your bank asks you to confirm the payment",
  SUCCEEDED: "Paid",
  FAILED: "Payment failed",
};

// PDF links are signed for an hour: the list is read again before they expire.
const REFRESH_MS = 45 * 60 * 1000;

export function Invoices({ customerExternalId, supplier }: { customerExternalId: string; supplier: string }) {
  const { data, error, loading, refetch } = useQuery(PortalInvoices, { customerExternalId });
  useEffect(() => {
    const timer = window.setInterval(refetch, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [refetch]);
  // Drafts are not final yet: the portal shows what was issued.
  const invoices = data?.invoices.nodes.filter((i) => i.status !== "DRAFT") ?? [];
  const notes = invoices.flatMap((i) => i.creditNotes.map((n) => ({ ...n, invoiceNumber: i.number })));
  return (
    <>
      <section aria-labelledby="invoices-heading">
        <h2 id="invoices-heading">Invoices</h2>
        {error ? <ErrorNotice error={error} what="your invoices" onRetry={refetch} /> : null}
        {loading && !data ? <Loading what="your invoices" /> : null}
        {data && invoices.length === 0 ? <Empty>No invoice has been issued to you yet.</Empty> : null}
        {invoices.length ? (
          <Table caption="Invoices">
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col">Issued</th>
                <th scope="col">Period</th>
                <th scope="col" className="num">
                  Total
                </th>
                <th scope="col" className="num">
                  Due
                </th>
                <th scope="col">Status</th>
                <th scope="col">Payment</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {invoices.map((invoice) => (
                <InvoiceRow key={invoice.id} invoice={invoice} supplier={supplier} onChanged={refetch} />
              ))}
            </tbody>
          </Table>
        ) : null}
      </section>
      <section aria-labelledby="notes-heading">
        <h2 id="notes-heading">Credit notes</h2>
        {data && notes.length === 0 ? <Empty>No credit note has been issued to you.</Empty> : null}
        {notes.length ? (
          <Table caption="Credit notes">
            <thead>
              <tr>
                <th scope="col">Credit note</th>
                <th scope="col">Date</th>
                <th scope="col">For invoice</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">
                  Amount
                </th>
                <th scope="col">PDF</th>
              </tr>
            </thead>
            <tbody>
              {notes.map((note) => (
                <tr key={note.id}>
                  <td className="mono">{note.number}</td>
                  <td>{formatDate(note.createdAt)}</td>
                  <td className="mono">{note.invoiceNumber}</td>
                  <td>{note.kind === "REFUND" ? "Refund" : "Credit for later invoices"}</td>
                  <td className="num">{formatMoney(note.amount, note.currency)}</td>
                  <td>
                    <a href={note.pdfUrl} download>
                      Download PDF<span className="visually-hidden"> of credit note {note.number}</span>
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
      </section>
    </>
  );
}

function InvoiceRow({ invoice, supplier, onChanged }: { invoice: Invoice; supplier: string; onChanged: () => void }) {
  const [pay, paying] = useMutation(PayInvoice);
  const [message, setMessage] = useState<{ tone: "error" | "success" | "info"; text: string } | null>(null);
  const outstanding = addDecimals(invoice.amountDue, `-${invoice.amountPaid}`);
  const payable =
    invoice.status === "OPEN" &&
    !["SUCCEEDED", "PROCESSING"].includes(invoice.paymentStatus) &&
    !outstanding.startsWith("-") &&
    /[1-9]/.test(outstanding);
  const action = invoice.paymentAttempts.findLast((a) => a.status === "REQUIRES_ACTION")?.actionUrl;
  const label = invoice.number ?? "draft";

  async function onPay() {
    setMessage(null);
    try {
      const answer = (await pay({ id: invoice.id })).collectInvoice;
      if (answer.userErrors.length) {
        const error = answer.userErrors[0];
        setMessage({
          tone: "error",
          text:
            error.code === "NO_PAYMENT_METHOD"
              ? `No payment method is saved for your account, so it cannot be charged. Ask ${supplier} to add one, or pay by bank transfer quoting ${invoice.paymentReference || label}.`
              : `The payment could not be started: ${error.message}.`,
        });
        return;
      }
      const status = answer.invoice?.paymentStatus ?? "PENDING";
      setMessage({
        tone: status === "FAILED" ? "error" : status === "SUCCEEDED" ? "success" : "info",
        text: `${PAYMENT_WORDS[status] ?? humanize(status)}.`,
      });
      onChanged();
    } catch (error) {
      setMessage({
        tone: "error",
        text: error instanceof ApiError ? `The payment could not be started: ${error.message}` : "The payment could not be started.",
      });
    }
  }

  return (
    <tr>
      <td className="mono">{label}</td>
      <td>{formatDate(invoice.issuedAt)}</td>
      <td>
        {formatDate(invoice.periodStart)} – {formatDate(invoice.periodEnd)}
      </td>
      <td className="num">{formatMoney(invoice.totalAmount, invoice.currency)}</td>
      <td className="num">
        {formatMoney(invoice.amountDue, invoice.currency)}
        {invoice.dueAt && invoice.status === "OPEN" ? <span className="muted"> by {formatDate(invoice.dueAt)}</span> : null}
      </td>
      <td>
        <StatusBadge status={invoice.status} />
      </td>
      <td data-testid="payment-status">
        {PAYMENT_WORDS[invoice.paymentStatus] ?? humanize(invoice.paymentStatus)}
        {invoice.paidAt ? <span className="muted"> on {formatDate(invoice.paidAt)}</span> : null}
      </td>
      <td>
        <div className="actions">
          {invoice.pdfUrl ? (
            <a href={invoice.pdfUrl} download className="button secondary">
              Download PDF<span className="visually-hidden"> of invoice {label}</span>
            </a>
          ) : null}
          {action ? (
            <a href={action} className="button">
              Confirm payment<span className="visually-hidden"> of invoice {label}</span>
            </a>
          ) : null}
          {payable ? (
            <button type="button" onClick={onPay} disabled={paying}>
              {paying ? "Paying…" : `Pay ${formatMoney(outstanding, invoice.currency)}`}
              <span className="visually-hidden"> for invoice {label}</span>
            </button>
          ) : null}
        </div>
        {message ? (
          <p className={`notice ${message.tone}`} role={message.tone === "error" ? "alert" : "status"}>
            {message.text}
          </p>
        ) : null}
      </td>
    </tr>
  );
}
