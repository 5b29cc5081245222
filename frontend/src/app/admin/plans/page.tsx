"use client";

import Link from "next/link";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole } from "@/lib/auth";
import { formatMoney, humanize } from "@/lib/format";
import { useCursorPager, useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";

const PlansQuery = graphql(`
  query Plans($first: Int, $after: String) {
    plans(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        code
        name
        interval
        currency
        amount
        payInAdvance
        trialPeriodDays
        archivedAt
        charges {
          id
        }
      }
    }
  }
`);

export default function PlansPage() {
  const pager = useCursorPager();
  const query = useQuery(PlansQuery, { first: 25, after: pager.after });
  const connection = query.data?.plans;
  const mayEdit = atLeast(useRole(), "ADMIN");
  return (
    <>
      <PageHead
        title="Plans"
        actions={
          mayEdit ? (
            <Link className="button" href="/admin/plan-edit">
              New plan
            </Link>
          ) : null
        }
      />
      <ConnectionView
        connection={connection}
        state={query}
        what="plans"
        noun="plans"
        empty={mayEdit ? "No plans yet: create the first one with New plan." : "No plans yet: an administrator defines them."}
        pager={pager}
      >
        {(nodes) => (
          <Table caption="Plans">
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col">Code</th>
                <th scope="col">Interval</th>
                <th scope="col" className="num">
                  Fee
                </th>
                <th scope="col">Billed</th>
                <th scope="col" className="num">
                  Trial
                </th>
                <th scope="col" className="num">
                  Charges
                </th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((plan) => (
                <tr key={plan.id}>
                  <td>
                    <Link href={`/admin/plan?code=${encodeURIComponent(plan.code)}`}>{plan.name}</Link>
                  </td>
                  <td className="mono">{plan.code}</td>
                  <td>{humanize(plan.interval)}</td>
                  <td className="num">{formatMoney(plan.amount, plan.currency)}</td>
                  <td>{plan.payInAdvance ? "In advance" : "In arrears"}</td>
                  <td className="num">{plan.trialPeriodDays ? `${plan.trialPeriodDays} days` : "—"}</td>
                  <td className="num">{plan.charges.length}</td>
                  <td>{plan.archivedAt ? <span className="badge">Archived</span> : <span className="badge ok">Available</span>}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </ConnectionView>
    </>
  );
}
