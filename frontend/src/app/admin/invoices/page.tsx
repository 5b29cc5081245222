"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useEffect } from "react";
import { InvoiceTable } from "@/components/InvoiceTable";
import { Pager } from "@/components/Pager";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { graphql } from "@/gql";
import type { InvoiceStatus } from "@/gql/graphql";
import { humanize } from "@/lib/format";
import { useCursorPager, useQuery } from "@/lib/hooks";

const PAGE_SIZE = 25;
const STATUSES: InvoiceStatus[] = ["DRAFT", "OPEN", "PAID", "VOID", "UNCOLLECTIBLE"];

const InvoicesQuery = graphql(`
  query Invoices($status: InvoiceStatus, $first: Int, $after: String) {
    invoices(status: $status, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        number
        status
        currency
        totalAmount
        amountDue
        periodStart
        periodEnd
        issuedAt
        customer {
          externalId
          name
        }
      }
    }
  }
`);

function InvoiceList() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const raw = params.get("status");
  const status = STATUSES.includes(raw as InvoiceStatus) ? (raw as InvoiceStatus) : null;
  const pager = useCursorPager();
  const { reset } = pager;
  useEffect(() => reset(), [status, reset]);
  const { data, error, loading, refetch } = useQuery(InvoicesQuery, { status, first: PAGE_SIZE, after: pager.after });
  const connection = data?.invoices;
  const what = status ? `${humanize(status).toLowerCase()} invoices` : "invoices";

  return (
    <>
      <title>Invoices · Admin · ValueVerse Billing</title>
      <div className="page-head">
        <h1>Invoices</h1>
      </div>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="invoice-status">Status</label>
          <select
            id="invoice-status"
            value={status ?? ""}
            onChange={(event) => {
              const value = event.target.value;
              router.replace(value ? `${pathname}?status=${value}` : pathname);
            }}
          >
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {humanize(s)}
              </option>
            ))}
          </select>
        </div>
      </div>
      {error ? <ErrorNotice error={error} onRetry={refetch} what="the invoices" /> : null}
      {loading && !connection ? <Loading what="invoices" /> : null}
      {connection && connection.nodes.length === 0 ? (
        <Empty>{status ? `No ${what}.` : "No invoices yet: they are issued when billing periods end."}</Empty>
      ) : null}
      {connection && connection.nodes.length > 0 ? (
        <>
          <InvoiceTable invoices={connection.nodes} caption={`${humanize(what)}, newest first`} showCustomer />
          <Pager
            page={pager.page}
            hasNext={connection.pageInfo.hasNextPage}
            total={connection.totalCount}
            shown={connection.nodes.length}
            noun={what}
            onPrevious={pager.previous}
            onNext={() => pager.next(connection.pageInfo.endCursor)}
          />
        </>
      ) : null}
    </>
  );
}

export default function InvoicesPage() {
  return (
    <Suspense fallback={<Loading what="invoices" />}>
      <InvoiceList />
    </Suspense>
  );
}
