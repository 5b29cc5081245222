"use client";

import { Suspense, useId, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { Granularity } from "@/gql/graphql";
import { useAuth, useRole } from "@/lib/auth";
import { formatMoney, viewerTimeZone } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";
import { checkRange, defaultRange, formatDay, formatPercent, periodLabel } from "@/lib/revenue";

const RevenueQuery = graphql(`
  query RevenueDashboard($from: Date!, $to: Date!, $granularity: Granularity, $currency: String) {
    revenueMetrics(from: $from, to: $to, granularity: $granularity, currency: $currency) {
      periodStart
      periodEnd
      currency
      mrr
      arr
      newMrr
      expansionMrr
      contractionMrr
      churnedMrr
      reactivationMrr
      activeCustomers
      newCustomers
      churnedCustomers
      arpu
      netRevenueRetention
      grossRevenueRetention
      invoicedAmount
      collectedAmount
      overdueAmount
      usageRevenue
    }
    revenueByPlan(from: $from, to: $to, currency: $currency) {
      planCode
      planName
      mrr
      activeSubscriptions
      subscriptionRevenue
      usageRevenue
      trueUpRevenue
      totalRevenue
    }
    topCustomers(from: $from, to: $to, currency: $currency, limit: 10) {
      customerExternalId
      customerName
      usageRevenue
      invoicedAmount
      invoiceCount
      mrr
    }
  }
`);

const GRANULARITIES: Granularity[] = ["MONTH", "WEEK", "DAY"];
const GRANULARITY_LABEL: Record<Granularity, string> = { MONTH: "Months", WEEK: "Weeks", DAY: "Days" };

type Applied = { from: string; to: string; granularity: Granularity; currency: string };

function RevenueDashboard() {
  const role = useRole();
  const { viewer } = useAuth();
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const fallback = useMemo(() => defaultRange(new Date()), []);
  const orgCurrency = viewer?.organization.defaultCurrency ?? "USD";
  const rawGranularity = params.get("granularity") as Granularity | null;
  const applied: Applied = {
    from: params.get("from") ?? fallback.from,
    to: params.get("to") ?? fallback.to,
    granularity: rawGranularity && GRANULARITIES.includes(rawGranularity) ? rawGranularity : "MONTH",
    currency: (params.get("currency") ?? orgCurrency).toUpperCase(),
  };
  const appliedProblem = checkRange(applied.from, applied.to);
  const allowed = atLeast(role, "FINANCE");
  const { data, error, loading, refetch } = useQuery(
    RevenueQuery,
    { from: applied.from, to: applied.to, granularity: applied.granularity, currency: applied.currency },
    { skip: !allowed || appliedProblem !== null },
  );

  if (!allowed) {
    return (
      <>
        <title>Revenue · Admin · ValueVerse Billing</title>
        <h1>Revenue</h1>
        <div className="notice error" role="alert">
          <p>The revenue dashboard is for the Finance role and above. Ask an administrator of your organization.</p>
        </div>
      </>
    );
  }

  const apply = (next: Applied) => {
    const query = new URLSearchParams({ ...next });
    router.replace(`${pathname}?${query.toString()}`);
  };
  const points = data?.revenueMetrics ?? [];
  const currency = points[0]?.currency ?? applied.currency;
  const last = points[points.length - 1];
  const money = (value: string | null | undefined) => formatMoney(value, currency);

  return (
    <>
      <title>Revenue · Admin · ValueVerse Billing</title>
      <div className="page-head">
        <h1>Revenue</h1>
      </div>
      <p className="muted">
        Periods are days, weeks or months in the organization&apos;s time zone ({viewer?.organization.timezone ?? "UTC"}
        ); amounts are in {currency} and never converted between currencies. Times elsewhere are shown in{" "}
        {viewerTimeZone()}.
      </p>
      <RangeForm key={JSON.stringify(applied)} applied={applied} onApply={apply} />
      {appliedProblem ? (
        <div className="notice error" role="alert">
          <p>{appliedProblem.message}</p>
        </div>
      ) : null}
      {error ? <ErrorNotice error={error} onRetry={refetch} what="the revenue figures" /> : null}
      {loading && !data && !appliedProblem ? <Loading what="the revenue figures" /> : null}
      {data && points.length > 0 && last ? (
        <div aria-busy={loading}>
          <div className="cards" data-testid="revenue-cards">
            <Figure label={`MRR at ${formatDay(last.periodEnd)}`} testId="mrr-figure">
              {money(last.mrr)}
            </Figure>
            <Figure label="ARR (12 × MRR)" testId="arr-figure">
              {money(last.arr)}
            </Figure>
            <Figure label="Paying customers">{String(last.activeCustomers)}</Figure>
            <Figure label="ARPU">{money(last.arpu)}</Figure>
            <Figure label={`Net revenue retention, ${periodLabel(last, applied.granularity)}`}>
              {formatPercent(last.netRevenueRetention)}
            </Figure>
            <Figure label={`Overdue at ${formatDay(last.periodEnd)}`}>{money(last.overdueAmount)}</Figure>
          </div>
          {points.every((p) => p.mrr === points[0].mrr && Number(p.mrr) === 0) &&
          data.revenueByPlan.length === 0 ? (
            <Empty>
              No recurring revenue in {currency} over this range yet: figures appear once customers subscribe to plans in
              this currency.
            </Empty>
          ) : null}
          <MrrPanel points={points} granularity={applied.granularity} money={money} />
          <MovementsPanel points={points} granularity={applied.granularity} money={money} />
          <RetentionPanel points={points} granularity={applied.granularity} money={money} />
          <CashPanel points={points} granularity={applied.granularity} money={money} />
          <PlansPanel plans={data.revenueByPlan} money={money} />
          <CustomersPanel customers={data.topCustomers} money={money} />
        </div>
      ) : null}
    </>
  );
}

function RangeForm({ applied, onApply }: { applied: Applied; onApply: (next: Applied) => void }) {
  const [from, setFrom] = useState(applied.from);
  const [to, setTo] = useState(applied.to);
  const [granularity, setGranularity] = useState<Granularity>(applied.granularity);
  const [currency, setCurrency] = useState(applied.currency);
  const [problem, setProblem] = useState<{ field: "from" | "to" | "currency"; message: string } | null>(null);
  const errorId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = checkRange(from, to);
    if (found) return setProblem(found);
    if (!/^[A-Za-z]{3}$/.test(currency.trim())) {
      return setProblem({ field: "currency", message: "A currency is a three-letter ISO 4217 code, e.g. USD." });
    }
    setProblem(null);
    onApply({ from, to, granularity, currency: currency.trim().toUpperCase() });
  };
  const invalid = (field: string) => (problem?.field === field ? { "aria-invalid": true, "aria-describedby": errorId } : {});

  return (
    <form className="toolbar" onSubmit={submit} noValidate aria-label="Range of the revenue figures">
      <div className="field">
        <label htmlFor="revenue-from">From</label>
        <input id="revenue-from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} required {...invalid("from")} />
      </div>
      <div className="field">
        <label htmlFor="revenue-to">To (included)</label>
        <input id="revenue-to" type="date" value={to} onChange={(e) => setTo(e.target.value)} required {...invalid("to")} />
      </div>
      <div className="field">
        <label htmlFor="revenue-granularity">Per</label>
        <select
          id="revenue-granularity"
          value={granularity}
          onChange={(e) => setGranularity(e.target.value as Granularity)}
        >
          {GRANULARITIES.map((g) => (
            <option key={g} value={g}>
              {GRANULARITY_LABEL[g]}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="revenue-currency">Currency</label>
        <input
          id="revenue-currency"
          value={currency}
          onChange={(e) => setCurrency(e.target.value)}
          maxLength={3}
          size={5}
          autoCapitalize="characters"
          spellCheck={false}
          {...invalid("currency")}
        />
      </div>
      <button type="submit">Show</button>
      {problem ? (
        <p id={errorId} className="form-error" role="alert" style={{ flexBasis: "100%", margin: 0 }}>
          {problem.message}
        </p>
      ) : null}
    </form>
  );
}

function Figure({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="card">
      <div className="figure" data-testid={testId}>
        {children}
      </div>
      <div className="label">{label}</div>
    </div>
  );
}

type Point = {
  periodStart: string;
  periodEnd: string;
  currency: string;
  mrr: string;
  arr: string;
  newMrr: string;
  expansionMrr: string;
  contractionMrr: string;
  churnedMrr: string;
  reactivationMrr: string;
  activeCustomers: number;
  newCustomers: number;
  churnedCustomers: number;
  arpu: string;
  netRevenueRetention?: string | null;
  grossRevenueRetention?: string | null;
  invoicedAmount: string;
  collectedAmount: string;
  overdueAmount: string;
  usageRevenue: string;
};
type Money = (value: string | null | undefined) => string;
type PanelProps = { points: Point[]; granularity: Granularity; money: Money };

const tooltipStyle = { background: "var(--surface)", border: "1px solid var(--border)", color: "var(--text)" };
const axis = { stroke: "var(--muted)", tick: { fill: "var(--muted)", fontSize: 12 } };

/** A chart is for the eye only (its numbers are floats): the table under it holds the exact figures. */
function Panel({ title, summary, chart, table }: { title: string; summary: string; chart: ReactNode; table: ReactNode }) {
  const id = useId();
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p className="muted">{summary}</p>
      <figure className="chart revenue-chart" aria-hidden="true" style={{ margin: 0 }}>
        <ResponsiveContainer width="100%" height="100%">
          {chart as React.ReactElement}
        </ResponsiveContainer>
      </figure>
      <details>
        <summary>The figures as a table</summary>
        {table}
      </details>
    </section>
  );
}

function rows(points: Point[], granularity: Granularity) {
  return points.map((p) => ({ ...p, label: periodLabel(p, granularity) }));
}

function MrrPanel({ points, granularity, money }: PanelProps) {
  const data = rows(points, granularity).map((p) => ({ label: p.label, mrr: Number(p.mrr), arpu: Number(p.arpu) }));
  const first = points[0];
  const last = points[points.length - 1];
  return (
    <Panel
      title="MRR and ARPU"
      summary={`MRR went from ${money(first.mrr)} to ${money(last.mrr)} (ARR ${money(last.arr)}); ARPU ${money(last.arpu)}.`}
      chart={
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 8, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" {...axis} minTickGap={12} />
          <YAxis {...axis} width={88} tickFormatter={(v: number) => money(String(v))} />
          <Tooltip contentStyle={tooltipStyle} formatter={(v) => money(String(v))} />
          <Legend />
          <Line type="linear" dataKey="mrr" name="MRR" stroke="var(--chart)" strokeWidth={2} dot={false} isAnimationActive={false} />
          <Line type="linear" dataKey="arpu" name="ARPU" stroke="var(--chart-2)" strokeWidth={2} dot={false} isAnimationActive={false} />
        </LineChart>
      }
      table={
        <Table caption="MRR, ARR and ARPU per period">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col" className="num">MRR</th>
              <th scope="col" className="num">ARR</th>
              <th scope="col" className="num">Paying customers</th>
              <th scope="col" className="num">ARPU</th>
            </tr>
          </thead>
          <tbody>
            {rows(points, granularity).map((p) => (
              <tr key={p.periodStart}>
                <th scope="row">{p.label}</th>
                <td className="num">{money(p.mrr)}</td>
                <td className="num">{money(p.arr)}</td>
                <td className="num">{p.activeCustomers}</td>
                <td className="num">{money(p.arpu)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      }
    />
  );
}

function MovementsPanel({ points, granularity, money }: PanelProps) {
  const data = rows(points, granularity).map((p) => ({
    label: p.label,
    new: Number(p.newMrr),
    expansion: Number(p.expansionMrr),
    reactivation: Number(p.reactivationMrr),
    contraction: -Number(p.contractionMrr),
    churned: -Number(p.churnedMrr),
  }));
  return (
    <Panel
      title="MRR movements"
      summary="Per period: start MRR + new + expansion + reactivation − contraction − churned = end MRR."
      chart={
        <BarChart data={data} stackOffset="sign" margin={{ top: 8, right: 12, bottom: 8, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" {...axis} minTickGap={12} />
          <YAxis {...axis} width={88} tickFormatter={(v: number) => money(String(v))} />
          <Tooltip contentStyle={tooltipStyle} formatter={(v) => money(String(Math.abs(Number(v))))} />
          <Legend />
          <ReferenceLine y={0} stroke="var(--muted)" />
          <Bar dataKey="new" name="New" stackId="m" fill="var(--chart)" isAnimationActive={false} />
          <Bar dataKey="expansion" name="Expansion" stackId="m" fill="var(--chart-2)" isAnimationActive={false} />
          <Bar dataKey="reactivation" name="Reactivation" stackId="m" fill="var(--chart-3)" isAnimationActive={false} />
          <Bar dataKey="contraction" name="Contraction" stackId="m" fill="var(--chart-4)" isAnimationActive={false} />
          <Bar dataKey="churned" name="Churned" stackId="m" fill="var(--danger)" isAnimationActive={false} />
        </BarChart>
      }
      table={
        <Table caption="MRR movements per period">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col" className="num">New</th>
              <th scope="col" className="num">Expansion</th>
              <th scope="col" className="num">Reactivation</th>
              <th scope="col" className="num">Contraction</th>
              <th scope="col" className="num">Churned</th>
              <th scope="col" className="num">New / churned customers</th>
              <th scope="col" className="num">End MRR</th>
            </tr>
          </thead>
          <tbody>
            {rows(points, granularity).map((p) => (
              <tr key={p.periodStart}>
                <th scope="row">{p.label}</th>
                <td className="num">{money(p.newMrr)}</td>
                <td className="num">{money(p.expansionMrr)}</td>
                <td className="num">{money(p.reactivationMrr)}</td>
                <td className="num">−{money(p.contractionMrr)}</td>
                <td className="num">−{money(p.churnedMrr)}</td>
                <td className="num">
                  {p.newCustomers} / {p.churnedCustomers}
                </td>
                <td className="num">{money(p.mrr)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      }
    />
  );
}

function RetentionPanel({ points, granularity }: PanelProps) {
  const data = rows(points, granularity).map((p) => ({
    label: p.label,
    nrr: p.netRevenueRetention == null ? null : Number(p.netRevenueRetention),
    grr: p.grossRevenueRetention == null ? null : Number(p.grossRevenueRetention),
  }));
  return (
    <Panel
      title="Net and gross revenue retention"
      summary="Of the MRR at each period's start, what was kept (GRR) and kept plus expanded (NRR); none without start MRR."
      chart={
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 8, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" {...axis} minTickGap={12} />
          <YAxis {...axis} width={56} unit=" %" domain={["auto", "auto"]} />
          <Tooltip contentStyle={tooltipStyle} formatter={(v) => formatPercent(String(v))} />
          <Legend />
          <ReferenceLine y={100} stroke="var(--muted)" strokeDasharray="4 4" />
          <Line type="linear" dataKey="nrr" name="NRR" stroke="var(--chart)" strokeWidth={2} connectNulls isAnimationActive={false} />
          <Line type="linear" dataKey="grr" name="GRR" stroke="var(--chart-4)" strokeWidth={2} connectNulls isAnimationActive={false} />
        </LineChart>
      }
      table={
        <Table caption="Revenue retention per period">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col" className="num">NRR</th>
              <th scope="col" className="num">GRR</th>
            </tr>
          </thead>
          <tbody>
            {rows(points, granularity).map((p) => (
              <tr key={p.periodStart}>
                <th scope="row">{p.label}</th>
                <td className="num">{formatPercent(p.netRevenueRetention)}</td>
                <td className="num">{formatPercent(p.grossRevenueRetention)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      }
    />
  );
}

function CashPanel({ points, granularity, money }: PanelProps) {
  const data = rows(points, granularity).map((p) => ({
    label: p.label,
    invoiced: Number(p.invoicedAmount),
    collected: Number(p.collectedAmount),
    overdue: Number(p.overdueAmount),
  }));
  return (
    <Panel
      title="Invoiced, collected and overdue"
      summary="Invoiced: totals of invoices finalized in the period. Collected: payments received less refunds. Overdue: open and past due at the period's end."
      chart={
        <BarChart data={data} margin={{ top: 8, right: 12, bottom: 8, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid stroke="var(--border)" vertical={false} />
          <XAxis dataKey="label" {...axis} minTickGap={12} />
          <YAxis {...axis} width={88} tickFormatter={(v: number) => money(String(v))} />
          <Tooltip contentStyle={tooltipStyle} formatter={(v) => money(String(v))} />
          <Legend />
          <Bar dataKey="invoiced" name="Invoiced" fill="var(--chart)" isAnimationActive={false} />
          <Bar dataKey="collected" name="Collected" fill="var(--chart-2)" isAnimationActive={false} />
          <Bar dataKey="overdue" name="Overdue" fill="var(--danger)" isAnimationActive={false} />
        </BarChart>
      }
      table={
        <Table caption="Invoiced, collected, overdue and usage revenue per period">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col" className="num">Invoiced</th>
              <th scope="col" className="num">Collected</th>
              <th scope="col" className="num">Overdue at end</th>
              <th scope="col" className="num">Usage revenue</th>
            </tr>
          </thead>
          <tbody>
            {rows(points, granularity).map((p) => (
              <tr key={p.periodStart}>
                <th scope="row">{p.label}</th>
                <td className="num">{money(p.invoicedAmount)}</td>
                <td className="num">{money(p.collectedAmount)}</td>
                <td className="num">{money(p.overdueAmount)}</td>
                <td className="num">{money(p.usageRevenue)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      }
    />
  );
}

type PlanRow = {
  planCode: string;
  planName: string;
  mrr: string;
  activeSubscriptions: number;
  subscriptionRevenue: string;
  usageRevenue: string;
  trueUpRevenue: string;
  totalRevenue: string;
};

function PlansPanel({ plans, money }: { plans: PlanRow[]; money: Money }) {
  const id = useId();
  const data = plans.map((p) => ({
    name: p.planName,
    subscription: Number(p.subscriptionRevenue),
    usage: Number(p.usageRevenue),
    trueUp: Number(p.trueUpRevenue),
  }));
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>Revenue by plan</h2>
      {plans.length === 0 ? (
        <Empty>No plan in this currency has billed anything or has subscriptions at the range&apos;s end.</Empty>
      ) : (
        <>
          <p className="muted">Fees billed by period invoices finalized in the range, before discounts and tax; MRR at the range&apos;s end.</p>
          <figure className="chart revenue-chart" aria-hidden="true" style={{ margin: 0 }}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={data} layout="vertical" margin={{ top: 8, right: 12, bottom: 8, left: 8 }} accessibilityLayer={false}>
                <CartesianGrid stroke="var(--border)" horizontal={false} />
                <XAxis type="number" {...axis} tickFormatter={(v: number) => money(String(v))} />
                <YAxis type="category" dataKey="name" {...axis} width={120} />
                <Tooltip contentStyle={tooltipStyle} formatter={(v) => money(String(v))} />
                <Legend />
                <Bar dataKey="subscription" name="Subscription fees" stackId="p" fill="var(--chart)" isAnimationActive={false} />
                <Bar dataKey="usage" name="Usage" stackId="p" fill="var(--chart-2)" isAnimationActive={false} />
                <Bar dataKey="trueUp" name="Commitment true-ups" stackId="p" fill="var(--chart-3)" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </figure>
          <Table caption="Revenue by plan">
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col" className="num">MRR</th>
                <th scope="col" className="num">Subscriptions</th>
                <th scope="col" className="num">Subscription fees</th>
                <th scope="col" className="num">Usage</th>
                <th scope="col" className="num">True-ups</th>
                <th scope="col" className="num">Total</th>
              </tr>
            </thead>
            <tbody>
              {plans.map((p) => (
                <tr key={p.planCode}>
                  <th scope="row">
                    <a href={`/admin/plan?code=${encodeURIComponent(p.planCode)}`}>{p.planName}</a>
                  </th>
                  <td className="num">{money(p.mrr)}</td>
                  <td className="num">{p.activeSubscriptions}</td>
                  <td className="num">{money(p.subscriptionRevenue)}</td>
                  <td className="num">{money(p.usageRevenue)}</td>
                  <td className="num">{money(p.trueUpRevenue)}</td>
                  <td className="num">{money(p.totalRevenue)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      )}
    </section>
  );
}

type CustomerRow = {
  customerExternalId: string;
  customerName: string;
  usageRevenue: string;
  invoicedAmount: string;
  invoiceCount: number;
  mrr: string;
};

function CustomersPanel({ customers, money }: { customers: CustomerRow[]; money: Money }) {
  const id = useId();
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>Top customers by usage</h2>
      {customers.length === 0 ? (
        <Empty>No customer was invoiced in this currency over the range.</Empty>
      ) : (
        <Table caption="Top customers by usage revenue">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Customer</th>
              <th scope="col" className="num">Usage revenue</th>
              <th scope="col" className="num">Invoiced</th>
              <th scope="col" className="num">Invoices</th>
              <th scope="col" className="num">MRR now</th>
            </tr>
          </thead>
          <tbody>
            {customers.map((c, index) => (
              <tr key={c.customerExternalId}>
                <td>{index + 1}</td>
                <th scope="row">
                  <a href={`/admin/customer?id=${encodeURIComponent(c.customerExternalId)}`}>{c.customerName || c.customerExternalId}</a>
                </th>
                <td className="num">{money(c.usageRevenue)}</td>
                <td className="num">{money(c.invoicedAmount)}</td>
                <td className="num">{c.invoiceCount}</td>
                <td className="num">{money(c.mrr)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </section>
  );
}

export default function RevenuePage() {
  return (
    <Suspense fallback={<Loading what="the revenue dashboard" />}>
      <RevenueDashboard />
    </Suspense>
  );
}
