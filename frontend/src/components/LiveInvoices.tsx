"use client";

import Link from "next/link";
import { useEffect, useState } from "react";
import { StatusBadge } from "@/components/StatusBadge";
import { graphql } from "@/gql";
import { useAuth } from "@/lib/auth";
import { formatDateTime, formatMoney } from "@/lib/format";
import { useSubscription } from "@/lib/hooks";

const InvoiceUpdated = graphql(`
  subscription InvoiceFeed {
    invoiceUpdated {
      id
      number
      status
      paymentStatus
      currency
      totalAmount
      amountDue
      amountPaid
      customer {
        externalId
        name
      }
    }
  }
`);

const STATUS_WORDS = {
  connecting: "Connecting…",
  live: "Live: invoices appear here as they are created, finalized, paid or voided",
  reconnecting: "Connection lost: reconnecting…",
  refused: "Live updates refused: sign in again",
};

type Entry = { key: number; at: string; invoice: Invoice };
type Invoice = {
  id: string;
  number?: string | null;
  status: string;
  paymentStatus: string;
  currency: string;
  totalAmount: string;
  amountDue: string;
  amountPaid: string;
  customer: { externalId: string; name: string };
};

const KEEP = 20;

/** Billing events for ops: every invoice change of the organization, pushed over graphql-ws (`invoiceUpdated`). */
export function LiveInvoices() {
  const { liveStatus } = useAuth();
  const { data, error, updates } = useSubscription(InvoiceUpdated, {});
  const [entries, setEntries] = useState<Entry[]>([]);

  useEffect(() => {
    const invoice = data?.invoiceUpdated;
    if (!invoice || updates === 0) return;
    setEntries((list) => [{ key: updates, at: new Date().toISOString(), invoice }, ...list].slice(0, KEEP));
  }, [data, updates]);

  return (
    <section className="panel" aria-labelledby="live-feed">
      <h2 id="live-feed">Billing events</h2>
      <p className="muted" role="status">
        <span className={`live-dot ${liveStatus === "live" ? "live" : ""}`} aria-hidden="true" />
        {STATUS_WORDS[liveStatus ?? "connecting"]}
      </p>
      {error ? (
        <p className="notice error" role="alert">
          The live feed is unavailable: {error}
        </p>
      ) : null}
      {entries.length === 0 ? <p className="state">Nothing yet since this page opened: the latest {KEEP} invoice changes will be listed here.</p> : null}
      <div role="log" aria-live="polite" aria-label="Invoice changes, newest first">
        <ol className="feed">
          {entries.map(({ key, at, invoice }) => (
            <li key={key}>
              <span className="muted">{formatDateTime(at)}</span>
              <Link href={`/admin/invoice?id=${encodeURIComponent(invoice.id)}`}>{invoice.number ? `Invoice ${invoice.number}` : "Draft invoice"}</Link>
              <StatusBadge status={invoice.status} />
              <span>{invoice.customer.name || invoice.customer.externalId}</span>
              <span>
                {formatMoney(invoice.totalAmount, invoice.currency)}
                {invoice.status === "OPEN" ? <span className="muted"> · paid {formatMoney(invoice.amountPaid, invoice.currency)}</span> : null}
              </span>
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}
