"use client";

import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useAuth } from "@/lib/auth";
import { formatDateTime, formatDecimal, formatMoney, humanize } from "@/lib/format";
import { useSubscription } from "@/lib/hooks";

const UsageUpdated = graphql(`
  subscription UsageUpdated($customerExternalId: String!, $subscriptionExternalId: String) {
    usageUpdated(customerExternalId: $customerExternalId, subscriptionExternalId: $subscriptionExternalId) {
      fromDatetime
      toDatetime
      currency
      amount
      subscriptionExternalId
      charges {
        billableMetricCode
        billableMetricName
        model
        units
        amount
      }
    }
  }
`);

const STATUS_WORDS = {
  connecting: "Connecting…",
  live: "Live: updates as usage arrives",
  reconnecting: "Connection lost: reconnecting…",
  refused: "Live updates refused: sign in again",
};

/** The current period's usage of one subscription, pushed over graphql-ws (`usageUpdated`). */
export function LiveUsage({ customerExternalId, subscriptionExternalId }: { customerExternalId: string; subscriptionExternalId: string }) {
  const { liveStatus } = useAuth();
  const { data, error, updates } = useSubscription(UsageUpdated, { customerExternalId, subscriptionExternalId });
  const usage = data?.usageUpdated;
  const headingId = `usage-${subscriptionExternalId}`;
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h2 id={headingId}>
        Current usage · <span className="mono">{subscriptionExternalId}</span>
      </h2>
      <p className="muted" role="status">
        <span className={`live-dot ${liveStatus === "live" ? "live" : ""}`} aria-hidden="true" />
        {STATUS_WORDS[liveStatus ?? "connecting"]}
        {updates > 1 ? ` · ${updates - 1} update${updates === 2 ? "" : "s"} since the page opened` : ""}
      </p>
      {error ? (
        <p className="notice error" role="alert">
          Live usage is unavailable: {error}
        </p>
      ) : null}
      {!usage && !error ? <p className="state">Waiting for the current usage…</p> : null}
      {usage ? (
        <>
          <p className="muted">
            Period {formatDateTime(usage.fromDatetime)} – {formatDateTime(usage.toDatetime)}
          </p>
          <p>
            <span id={`${headingId}-label`}>Usage charges so far</span>
            <br />
            <output className="live-figure" aria-labelledby={`${headingId}-label`} aria-live="polite" data-testid="usage-amount">
              {formatMoney(usage.amount, usage.currency)}
            </output>
          </p>
          {usage.charges.length === 0 ? (
            <Empty>The plan has no usage charges.</Empty>
          ) : (
            <>
              <Table caption="Usage by charge">
                <thead>
                  <tr>
                    <th scope="col">Metric</th>
                    <th scope="col">Model</th>
                    <th scope="col" className="num">
                      Units
                    </th>
                    <th scope="col" className="num">
                      Amount
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {usage.charges.map((charge) => (
                    <tr key={charge.billableMetricCode}>
                      <td>
                        {charge.billableMetricName} <span className="muted mono">{charge.billableMetricCode}</span>
                      </td>
                      <td>{humanize(charge.model)}</td>
                      <td className="num">{formatDecimal(charge.units)}</td>
                      <td className="num">{formatMoney(charge.amount, usage.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
              <UsageChart charges={usage.charges} currency={usage.currency} />
            </>
          )}
        </>
      ) : null}
    </section>
  );
}

function UsageChart({ charges, currency }: { charges: { billableMetricCode: string; amount: string }[]; currency: string }) {
  // For the eye only: the table above holds the exact figures (the chart's numbers are floats).
  const points = charges.map((c) => ({ metric: c.billableMetricCode, amount: Number(c.amount) }));
  return (
    <figure className="chart" aria-hidden="true" style={{ margin: 0 }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={points} margin={{ top: 8, right: 8, bottom: 8, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid stroke="var(--border)" vertical={false} />
          <XAxis dataKey="metric" stroke="var(--muted)" tick={{ fill: "var(--muted)" }} />
          <YAxis stroke="var(--muted)" tick={{ fill: "var(--muted)" }} tickFormatter={(v: number) => formatMoney(String(v), currency)} width={80} />
          <Tooltip
            formatter={(value) => formatMoney(String(value), currency)}
            contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)", color: "var(--text)" }}
          />
          <Bar dataKey="amount" name="Amount" fill="var(--chart)" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
