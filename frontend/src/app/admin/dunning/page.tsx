"use client";

import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect } from "react";
import { ConnectionView, PageHead, withSuspense } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { InvoicePaymentStatus } from "@/gql/graphql";
import { useRole } from "@/lib/auth";
import { attemptsSummary, DUNNING_WORDS } from "@/lib/dunning";
import { formatDate, formatDateTime, formatMoney, humanize } from "@/lib/format";
import { useCursorPager, useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const PAGE_SIZE = 25;

// Open invoices whose last collection attempt failed (dunning retries them) or waits for the customer (3-D Secure).
const QUEUES: { status: InvoicePaymentStatus; label: string; noun: string }[] = [
  { status: "FAILED", label: "Failed payments", noun: "invoices with a failed payment" },
  { status: "REQUIRES_ACTION", label: "Waiting for the customer", noun: "invoices waiting for the customer" },
];

const DunningQuery = graphql(`
  query DunningQueue($paymentStatus: InvoicePaymentStatus, $first: Int, $after: String) {
    invoices(status: OPEN, paymentStatus: $paymentStatus, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        number
        currency
        amountDue
        dueAt
        dunningStatus
        nextPaymentAttemptAt
        customer {
          externalId
          name
        }
        paymentAttempts {
          id
          number
          status
          declineCode
          hardDecline
          createdAt
        }
      }
    }
  }
`);

function DunningQueue() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const role = useRole();
  const queue = QUEUES.find((q) => q.status === params.get("queue")) ?? QUEUES[0];
  const pager = useCursorPager();
  const { reset } = pager;
  useEffect(() => reset(), [queue.status, reset]);
  const query = useQuery(DunningQuery, { paymentStatus: queue.status, first: PAGE_SIZE, after: pager.after });

  return (
    <>
      <PageHead
        title="Dunning"
        actions={
          may(role, "dunningSettings") ? (
            <Link className="button secondary" href="/admin/dunning-campaign">
              Campaign settings
            </Link>
          ) : null
        }
      />
      <p className="muted">Open invoices that collection has not settled: the retries planned by the dunning campaign, and what the last attempts said.</p>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="dunning-queue">Show</label>
          <select id="dunning-queue" value={queue.status} onChange={(e) => router.replace(`${pathname}?queue=${e.target.value}`)}>
            {QUEUES.map((q) => (
              <option key={q.status} value={q.status}>
                {q.label}
              </option>
            ))}
          </select>
        </div>
        <button type="button" className="secondary" onClick={query.refetch} disabled={query.loading}>
          Refresh
        </button>
      </div>
      <ConnectionView connection={query.data?.invoices} state={query} what="the dunning queue" noun={queue.noun} empty={`No ${queue.noun}: nothing to chase.`} pager={pager}>
        {(nodes) => (
          <Table caption={`${humanize(queue.noun)}, newest first`}>
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col">Customer</th>
                <th scope="col" className="num">
                  Amount due
                </th>
                <th scope="col">Due</th>
                <th scope="col" className="num">
                  Attempts
                </th>
                <th scope="col">Last attempt</th>
                <th scope="col">Next retry</th>
                <th scope="col">Dunning</th>
              </tr>
            </thead>
            <tbody aria-busy={query.loading}>
              {nodes.map((invoice) => {
                const summary = attemptsSummary(invoice.paymentAttempts);
                return (
                  <tr key={invoice.id}>
                    <td>
                      <Link href={`/admin/invoice?id=${encodeURIComponent(invoice.id)}`}>{invoice.number ?? "Draft"}</Link>
                    </td>
                    <td>
                      <Link href={`/admin/customer?id=${encodeURIComponent(invoice.customer.externalId)}`}>{invoice.customer.name || invoice.customer.externalId}</Link>
                    </td>
                    <td className="num">{formatMoney(invoice.amountDue, invoice.currency)}</td>
                    <td>{formatDate(invoice.dueAt)}</td>
                    <td className="num">{summary.made}</td>
                    <td>
                      {summary.latest ? (
                        <>
                          {formatDateTime(summary.latest.createdAt)}
                          {summary.latest.declineCode ? <div className="muted mono">{summary.latest.declineCode}</div> : null}
                          {summary.hard ? <span className="badge bad">Hard decline</span> : null}
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td>{invoice.nextPaymentAttemptAt ? formatDateTime(invoice.nextPaymentAttemptAt) : "None planned"}</td>
                    <td>{invoice.dunningStatus ? (DUNNING_WORDS[invoice.dunningStatus] ?? humanize(invoice.dunningStatus)) : "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
        )}
      </ConnectionView>
    </>
  );
}

export default withSuspense(DunningQueue, "the dunning queue");
