"use client";

import Link from "next/link";
import { LiveInvoices } from "@/components/LiveInvoices";
import { ErrorNotice, Loading } from "@/components/States";
import { graphql } from "@/gql";
import { useAuth, useRole } from "@/lib/auth";
import { humanize, viewerTimeZone } from "@/lib/format";
import { useQuery } from "@/lib/hooks";

const OverviewQuery = graphql(`
  query Overview {
    customers(first: 1) {
      totalCount
    }
    drafts: invoices(status: DRAFT, first: 1) {
      totalCount
    }
    open: invoices(status: OPEN, first: 1) {
      totalCount
    }
    plans(first: 1) {
      totalCount
    }
    billableMetrics(first: 1) {
      totalCount
    }
  }
`);

export default function OverviewPage() {
  const { viewer } = useAuth();
  const role = useRole();
  const { data, error, loading, refetch } = useQuery(OverviewQuery, {});
  return (
    <>
      <title>Overview · Admin · ValueVerse Billing</title>
      <h1>Overview</h1>
      <p className="muted">
        {viewer ? `${viewer.organization.name} · ` : ""}
        {role ? `signed in as ${humanize(role)}` : ""} · times shown in {viewerTimeZone()}
      </p>
      {error ? <ErrorNotice error={error} onRetry={refetch} what="the overview" /> : null}
      {loading && !data ? <Loading what="the overview" /> : null}
      {data ? (
        <div className="cards">
          <Link className="card" href="/admin/customers">
            <div className="figure">{data.customers.totalCount}</div>
            <div className="label">customers</div>
          </Link>
          <Link className="card" href="/admin/invoices?status=OPEN">
            <div className="figure">{data.open.totalCount}</div>
            <div className="label">open invoices, awaiting payment</div>
          </Link>
          <Link className="card" href="/admin/invoices?status=DRAFT">
            <div className="figure">{data.drafts.totalCount}</div>
            <div className="label">draft invoices</div>
          </Link>
          <Link className="card" href="/admin/plans">
            <div className="figure">{data.plans.totalCount}</div>
            <div className="label">plans</div>
          </Link>
          <Link className="card" href="/admin/metrics">
            <div className="figure">{data.billableMetrics.totalCount}</div>
            <div className="label">billable metrics</div>
          </Link>
        </div>
      ) : null}
      <LiveInvoices />
    </>
  );
}
