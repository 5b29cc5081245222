"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect } from "react";
import { InvoiceTable } from "@/components/InvoiceTable";
import { ConnectionView, PageHead, withSuspense } from "@/components/Page";
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
  const query = useQuery(InvoicesQuery, { status, first: PAGE_SIZE, after: pager.after });
  const connection = query.data?.invoices;
  const what = status ? `${humanize(status).toLowerCase()} invoices` : "invoices";

  return (
    <>
      <PageHead title="Invoices" />
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
      <ConnectionView
        connection={connection}
        state={query}
        what="invoices"
        noun={what}
        empty={status ? `No ${what}.` : "No invoices yet: they are issued when billing periods end."}
        pager={pager}
      >
        {(nodes) => <InvoiceTable invoices={nodes} caption={`${humanize(what)}, newest first`} showCustomer />}
      </ConnectionView>
    </>
  );
}

export default withSuspense(InvoiceList, "invoices");
