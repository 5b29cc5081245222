"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { PageHead, pending, withSuspense } from "@/components/Page";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { PlanDetailQuery } from "@/gql/graphql";
import { useRole } from "@/lib/auth";
import { formatDate, formatDecimal, formatMoney, humanize } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";

const PlanQuery = graphql(`
  query PlanDetail($code: String!) {
    plan(code: $code) {
      id
      code
      name
      description
      interval
      currency
      amount
      payInAdvance
      trialPeriodDays
      minimumCommitment
      usageThresholds
      createdAt
      archivedAt
      charges {
        id
        model
        payInAdvance
        prorated
        minAmount
        invoiceDisplayName
        billableMetric {
          code
          name
          aggregation
        }
        properties {
          ...ChargePropertiesFields
        }
        filters {
          values
          invoiceDisplayName
        }
      }
    }
  }
`);

type Plan = NonNullable<PlanDetailQuery["plan"]>;
type Charge = Plan["charges"][number];
type Properties = Charge["properties"];

function percent(rate: string | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${formatDecimal(rate)} %`;
}

function upTo(to: string | null | undefined): string {
  return to === null || to === undefined ? "and up" : formatDecimal(to);
}

function Price({ charge, currency }: { charge: Charge; currency: string }) {
  const p: Properties = charge.properties;
  const money = (v: string | null | undefined) => formatMoney(v, currency);
  const label = charge.invoiceDisplayName || charge.billableMetric.name;
  switch (charge.model) {
    case "STANDARD":
      return <p>{money(p.amount)} per unit</p>;
    case "PACKAGE":
      return (
        <p>
          {money(p.amount)} per package of {formatDecimal(p.packageSize)} units
          {p.freeUnits && p.freeUnits !== "0" ? `, the first ${formatDecimal(p.freeUnits)} units free` : ""}
        </p>
      );
    case "PERCENTAGE":
      return (
        <dl className="facts">
          <div>
            <dt>Rate</dt>
            <dd>{percent(p.rate)}</dd>
          </div>
          <div>
            <dt>Fixed amount per paid event</dt>
            <dd>{money(p.fixedAmount)}</dd>
          </div>
          <div>
            <dt>Free events</dt>
            <dd>{p.freeUnitsPerEvents ?? "—"}</dd>
          </div>
          <div>
            <dt>Free amount</dt>
            <dd>{p.freeUnitsPerTotalAggregation ? formatDecimal(p.freeUnitsPerTotalAggregation) : "—"}</dd>
          </div>
          <div>
            <dt>Per transaction, at least</dt>
            <dd>{money(p.perTransactionMinAmount)}</dd>
          </div>
          <div>
            <dt>Per transaction, at most</dt>
            <dd>{money(p.perTransactionMaxAmount)}</dd>
          </div>
        </dl>
      );
    case "GRADUATED":
    case "VOLUME": {
      const ranges = (charge.model === "GRADUATED" ? p.graduatedRanges : p.volumeRanges) ?? [];
      return (
        <>
          <p className="muted">
            {charge.model === "GRADUATED"
              ? "Each tier prices the units that fall inside it; a tier's flat fee is due once any unit reaches it (the first tier's even at zero units)."
              : "All units are priced at the tier the total falls in, plus that tier's flat fee."}
          </p>
          <Table caption={`Tiers of ${label}`}>
            <thead>
              <tr>
                <th scope="col" className="num">
                  From
                </th>
                <th scope="col" className="num">
                  To
                </th>
                <th scope="col" className="num">
                  Per unit
                </th>
                <th scope="col" className="num">
                  Flat fee
                </th>
              </tr>
            </thead>
            <tbody>
              {ranges.map((r) => (
                <tr key={r.fromValue}>
                  <td className="num">{formatDecimal(r.fromValue)}</td>
                  <td className="num">{upTo(r.toValue)}</td>
                  <td className="num">{money(r.perUnitAmount)}</td>
                  <td className="num">{money(r.flatAmount)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      );
    }
    case "GRADUATED_PERCENTAGE":
      return (
        <Table caption={`Tiers of ${label}`}>
          <thead>
            <tr>
              <th scope="col" className="num">
                From
              </th>
              <th scope="col" className="num">
                To
              </th>
              <th scope="col" className="num">
                Rate
              </th>
              <th scope="col" className="num">
                Flat fee
              </th>
            </tr>
          </thead>
          <tbody>
            {(p.graduatedPercentageRanges ?? []).map((r) => (
              <tr key={r.fromValue}>
                <td className="num">{formatDecimal(r.fromValue)}</td>
                <td className="num">{upTo(r.toValue)}</td>
                <td className="num">{percent(r.rate)}</td>
                <td className="num">{money(r.flatAmount)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      );
    default:
      return null;
  }
}

function PlanDetail() {
  const code = useSearchParams().get("code") ?? "";
  const { data, error, loading, refetch } = useQuery(PlanQuery, { code }, { skip: !code });
  const mayEdit = atLeast(useRole(), "ADMIN");
  if (!code) return <Empty>No plan chosen: pick one from the plans list.</Empty>;
  const waiting = pending({ data, error, loading, refetch }, "the plan");
  if (waiting) return waiting;
  const plan = data?.plan;
  if (!plan) {
    return (
      <Empty>
        There is no plan with the code <code>{code}</code>. <Link href="/admin/plans">Back to the plans</Link>
      </Empty>
    );
  }
  const money = (v: string | null | undefined) => formatMoney(v, plan.currency);
  return (
    <>
      <PageHead
        title={plan.name}
        heading={
          <>
            {plan.name} {plan.archivedAt ? <span className="badge">Archived</span> : null}
          </>
        }
        section={{ href: "/admin/plans", label: "Plans" }}
        actions={
          mayEdit && !plan.archivedAt ? (
            <Link className="button" href={`/admin/plan-edit?code=${encodeURIComponent(plan.code)}`}>
              Edit plan
            </Link>
          ) : null
        }
      />
      {plan.description ? <p>{plan.description}</p> : null}
      <section className="panel" aria-labelledby="plan-facts">
        <h2 id="plan-facts">Subscription fee</h2>
        <dl className="facts">
          <div>
            <dt>Code</dt>
            <dd className="mono">{plan.code}</dd>
          </div>
          <div>
            <dt>Fee</dt>
            <dd>
              {money(plan.amount)} {humanize(plan.interval).toLowerCase()}, billed {plan.payInAdvance ? "in advance" : "in arrears"}
            </dd>
          </div>
          <div>
            <dt>Trial</dt>
            <dd>{plan.trialPeriodDays ? `${plan.trialPeriodDays} days` : "none"}</dd>
          </div>
          <div>
            <dt>Minimum commitment</dt>
            <dd>{plan.minimumCommitment ? money(plan.minimumCommitment) : "none"}</dd>
          </div>
          <div>
            <dt>Progressive billing at</dt>
            <dd>{plan.usageThresholds.length ? plan.usageThresholds.map((t) => money(t)).join(", ") : "—"}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatDate(plan.createdAt)}</dd>
          </div>
        </dl>
      </section>
      <h2>Charges</h2>
      {plan.charges.length === 0 ? <Empty>This plan has no usage charges: only its fee.</Empty> : null}
      {plan.charges.map((charge) => (
        <section className="panel" key={charge.id} aria-labelledby={`charge-${charge.id}`}>
          <h3 id={`charge-${charge.id}`} style={{ marginTop: 0 }}>
            {charge.invoiceDisplayName || charge.billableMetric.name}{" "}
            <span className="badge info">{humanize(charge.model)}</span>
          </h3>
          <p className="muted">
            Metric <span className="mono">{charge.billableMetric.code}</span> ({humanize(charge.billableMetric.aggregation)}) ·{" "}
            {charge.payInAdvance ? "billed in advance" : "billed in arrears"}
            {charge.prorated ? " · prorated" : ""}
            {charge.minAmount ? ` · at least ${money(charge.minAmount)}` : ""}
          </p>
          <Price charge={charge} currency={plan.currency} />
          {charge.filters.length ? (
            <p className="muted">
              Priced differently for: {charge.filters.map((f) => f.invoiceDisplayName || JSON.stringify(f.values)).join("; ")}
            </p>
          ) : null}
        </section>
      ))}
    </>
  );
}

export default withSuspense(PlanDetail, "the plan");
