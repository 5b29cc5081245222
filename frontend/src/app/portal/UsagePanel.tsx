"use client";

import { useEffect, useState } from "react";
import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { PortalUsageSubscription } from "@/gql/graphql";
import { useAuth } from "@/lib/auth";
import { addDecimals, formatDate, formatDateTime, formatDecimal, formatMoney, formatUnitPrice, humanize } from "@/lib/format";
import { useSubscription } from "@/lib/hooks";

const PortalUsage = graphql(`
  subscription PortalUsage($customerExternalId: String!, $subscriptionExternalId: String) {
    usageUpdated(customerExternalId: $customerExternalId, subscriptionExternalId: $subscriptionExternalId) {
      fromDatetime
      toDatetime
      currency
      amount
      charges {
        billableMetricCode
        billableMetricName
        model
        units
        amount
        breakdown {
          kind
          units
          amount
          fromValue
          toValue
          perUnitAmount
          rate
          flatAmount
          packageSize
          packages
          events
          fixedAmount
        }
      }
    }
  }
`);

type Usage = PortalUsageSubscription["usageUpdated"];
type Charge = Usage["charges"][number];
type Line = Charge["breakdown"][number];

type Subscription = {
  externalId: string;
  name?: string | null;
  plan: { name: string; amount: string; currency: string; payInAdvance: boolean; interval: string };
};

const STATUS_WORDS = {
  connecting: "Connecting…",
  live: "Live: updates as your usage arrives",
  reconnecting: "Connection lost: reconnecting…",
  refused: "Live updates refused",
};

/** One subscription's current period, pushed over graphql-ws (`usageUpdated`) as usage arrives. */
export function UsagePanel({
  customerExternalId,
  subscription,
  several,
}: {
  customerExternalId: string;
  subscription: Subscription;
  several: boolean;
}) {
  const { liveStatus } = useAuth();
  const { data, error, updates } = useSubscription(PortalUsage, {
    customerExternalId,
    subscriptionExternalId: subscription.externalId,
  });
  const usage = data?.usageUpdated;
  const [history, setHistory] = useState<{ at: number; amount: number }[]>([]);
  useEffect(() => {
    // For the chart only (the figures on the page are the API's exact strings).
    if (usage) setHistory((h) => [...h, { at: Date.now(), amount: Number(usage.amount) }].slice(-500));
  }, [usage]);

  const headingId = `usage-${subscription.externalId}`;
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h3 id={headingId}>{several ? `${subscription.name || subscription.plan.name}` : subscription.plan.name}</h3>
      <p className="muted" role="status">
        <span className={`live-dot ${liveStatus === "live" ? "live" : ""}`} aria-hidden="true" />
        {STATUS_WORDS[liveStatus ?? "connecting"]}
        {updates > 1 ? ` · ${updates - 1} update${updates === 2 ? "" : "s"} since you opened this page` : ""}
      </p>
      {error ? (
        <p className="notice error" role="alert">
          Your usage cannot be shown right now: {error}
        </p>
      ) : null}
      {!usage && !error ? <p className="state">Loading your current usage…</p> : null}
      {usage ? (
        <>
          <p className="muted">
            Period {formatDateTime(usage.fromDatetime)} – {formatDateTime(usage.toDatetime)}
          </p>
          <div className="cards">
            <div className="card">
              <p className="label" id={`${headingId}-usage`}>
                Usage charges so far
              </p>
              <output className="live-figure" aria-labelledby={`${headingId}-usage`} aria-live="polite" data-testid="usage-amount">
                {formatMoney(usage.amount, usage.currency)}
              </output>
            </div>
            <div className="card">
              <p className="label" id={`${headingId}-estimate`}>
                Estimated next invoice
              </p>
              <output className="live-figure" aria-labelledby={`${headingId}-estimate`} data-testid="estimate">
                {formatMoney(addDecimals(subscription.plan.amount, usage.amount), usage.currency)}
              </output>
              <p className="muted">
                Plan fee {formatMoney(subscription.plan.amount, subscription.plan.currency)} + usage so far; before tax,
                discounts and credits.
              </p>
            </div>
          </div>
          {usage.charges.length === 0 ? (
            <Empty>Your plan has no usage charges: the plan fee is all you pay.</Empty>
          ) : (
            <>
              <h4>Meters</h4>
              <ul className="meters">
                {usage.charges.map((charge) => (
                  <Meter key={charge.billableMetricCode} charge={charge} currency={usage.currency} />
                ))}
              </ul>
              <PeriodChart history={history} from={usage.fromDatetime} to={usage.toDatetime} currency={usage.currency} />
              <h4>How it is priced</h4>
              <Pricing charges={usage.charges} currency={usage.currency} />
            </>
          )}
        </>
      ) : null}
    </section>
  );
}

/** A metric's units and fee; for tiered prices, how far the units are into the current tier. */
function Meter({ charge, currency }: { charge: Charge; currency: string }) {
  const ranges = charge.breakdown.filter((l) => l.kind === "RANGE");
  const current = ranges[ranges.length - 1];
  const top = current?.toValue ? Number(current.toValue) : null;
  const id = `meter-${charge.billableMetricCode}`;
  return (
    <li className="meter-item" data-testid={`meter-${charge.billableMetricCode}`}>
      <span className="meter-name" id={id}>
        {charge.billableMetricName} <span className="muted mono">{charge.billableMetricCode}</span>
      </span>
      <span className="meter-figures">
        <output aria-labelledby={id} aria-live="polite" data-testid="meter-units">
          {formatDecimal(charge.units)} units
        </output>
        <strong data-testid="meter-amount">{formatMoney(charge.amount, currency)}</strong>
      </span>
      {current && top !== null ? (
        <>
          <meter
            min={Number(current.fromValue ?? 0)}
            max={top}
            value={Math.min(Number(charge.units), top)}
            aria-labelledby={id}
            aria-describedby={`${id}-tier`}
          />
          <span className="muted" id={`${id}-tier`}>
            Tier {ranges.length}: {formatDecimal(charge.units)} of {formatDecimal(current.toValue)} units; above that,{" "}
            the next tier&apos;s price applies
          </span>
        </>
      ) : current ? (
        <span className="muted">Tier {ranges.length}, the last one: every further unit at {formatUnitPrice(current.perUnitAmount, currency)}</span>
      ) : (
        <span className="muted">{humanize(charge.model)} price</span>
      )}
    </li>
  );
}

function Pricing({ charges, currency }: { charges: Charge[]; currency: string }) {
  return (
    <Table caption="How each charge is priced">
      <thead>
        <tr>
          <th scope="col">Metric</th>
          <th scope="col">Pricing</th>
          <th scope="col">Step</th>
          <th scope="col" className="num">
            Units
          </th>
          <th scope="col" className="num">
            Amount
          </th>
        </tr>
      </thead>
      <tbody>
        {charges.flatMap((charge) => {
          const lines = charge.breakdown.length ? charge.breakdown : [null];
          return lines.map((line, index) => (
            <tr key={`${charge.billableMetricCode}-${index}`}>
              <td>{index === 0 ? charge.billableMetricName : ""}</td>
              <td>{index === 0 ? MODEL_WORDS[charge.model] ?? humanize(charge.model) : ""}</td>
              <td>{line ? explain(line, currency) : "No usage yet"}</td>
              <td className="num">{line ? formatDecimal(line.units) : formatDecimal(charge.units)}</td>
              <td className="num">{line ? formatUnitPrice(line.amount, currency) : formatMoney(charge.amount, currency)}</td>
            </tr>
          ));
        })}
      </tbody>
      <tfoot>
        {charges.map((charge) => (
          <tr key={charge.billableMetricCode}>
            <th scope="row" colSpan={4}>
              {charge.billableMetricName}: fee, rounded as on the invoice
            </th>
            <td className="num">{formatMoney(charge.amount, currency)}</td>
          </tr>
        ))}
      </tfoot>
    </Table>
  );
}

const MODEL_WORDS: Record<string, string> = {
  STANDARD: "Per unit",
  GRADUATED: "Graduated: each tier prices the units inside it",
  VOLUME: "Volume: all units at the price of the tier the total reaches",
  PACKAGE: "Per package of units",
  PERCENTAGE: "Percentage of the amount",
  GRADUATED_PERCENTAGE: "Graduated percentage",
};

function explain(line: Line, currency: string): string {
  const flat = line.flatAmount && Number(line.flatAmount) !== 0 ? ` + ${formatUnitPrice(line.flatAmount, currency)} flat` : "";
  switch (line.kind) {
    case "RANGE": {
      const span = `${formatDecimal(line.fromValue ?? "0")} – ${line.toValue ? formatDecimal(line.toValue) : "and above"}`;
      const price = line.rate ? `${formatDecimal(line.rate)} %` : `${formatUnitPrice(line.perUnitAmount, currency)} per unit`;
      return `Tier ${span}: ${price}${flat}`;
    }
    case "UNITS":
      return line.rate
        ? `${formatDecimal(line.rate)} % of the amount${flat}`
        : `${formatUnitPrice(line.perUnitAmount, currency)} per unit${flat}`;
    case "FREE_UNITS":
      return "Free units";
    case "PACKAGES":
      return `${formatDecimal(line.packages)} package${line.packages === "1" ? "" : "s"} of ${formatDecimal(line.packageSize)} units${
        line.perUnitAmount ? ` at ${formatUnitPrice(line.perUnitAmount, currency)}` : ""
      }`;
    case "PAID_EVENTS":
      return `${line.events ?? 0} paid events × ${formatUnitPrice(line.fixedAmount, currency)}`;
    case "MINIMUM_ADJUSTMENT":
      return "Raised to the minimum per transaction";
    case "MAXIMUM_ADJUSTMENT":
      return "Lowered to the maximum per transaction";
    default:
      return humanize(line.kind);
  }
}

/** The usage charges as they moved while this page was open, across the whole period. */
function PeriodChart({
  history,
  from,
  to,
  currency,
}: {
  history: { at: number; amount: number }[];
  from: string;
  to: string;
  currency: string;
}) {
  const start = new Date(from).getTime();
  const end = new Date(to).getTime();
  if (!history.length || Number.isNaN(start) || Number.isNaN(end)) return null;
  const points = [...history, { at: Math.min(Date.now(), end), amount: history[history.length - 1].amount }];
  return (
    <figure style={{ margin: "0 0 1rem" }}>
      <figcaption className="muted">
        Usage charges across the period ({formatDate(from)} – {formatDate(to)}), as updates arrived while this page was open
      </figcaption>
      <div className="chart" aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">
          <AreaChart data={points} margin={{ top: 8, right: 8, bottom: 8, left: 8 }} accessibilityLayer={false}>
            <CartesianGrid stroke="var(--border)" vertical={false} />
            <XAxis
              dataKey="at"
              type="number"
              scale="time"
              domain={[start, end]}
              stroke="var(--muted)"
              tick={{ fill: "var(--muted)" }}
              tickFormatter={(v: number) => formatDate(new Date(v).toISOString())}
            />
            <YAxis
              stroke="var(--muted)"
              tick={{ fill: "var(--muted)" }}
              tickFormatter={(v: number) => formatMoney(String(v), currency)}
              width={80}
            />
            <Tooltip
              labelFormatter={(v) => formatDateTime(new Date(Number(v)).toISOString())}
              formatter={(value) => formatMoney(String(value), currency)}
              contentStyle={{ background: "var(--surface)", border: "1px solid var(--border)", color: "var(--text)" }}
            />
            <Area dataKey="amount" name="Usage charges" type="stepAfter" stroke="var(--chart)" fill="var(--chart)" fillOpacity={0.2} isAnimationActive={false} />
          </AreaChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
