"use client";

import { Empty, ErrorNotice, Loading } from "@/components/States";
import { StatusBadge } from "@/components/StatusBadge";
import { graphql } from "@/gql";
import { formatDate, formatMoney, humanize, viewerTimeZone } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { BillingDetails } from "./BillingDetails";
import { Invoices } from "./Invoices";
import type { PortalInfo } from "./PortalApp";
import { PaymentMethods } from "./PaymentMethods";
import { UsageAlerts } from "./UsageAlerts";
import { UsagePanel } from "./UsagePanel";

const PortalCustomer = graphql(`
  query PortalCustomer($customerExternalId: String!) {
    customer(externalId: $customerExternalId) {
      externalId
      name
      legalName
      email
      addressLine1
      addressLine2
      city
      state
      postalCode
      country
      currency
      timezone
      taxIdentificationNumber
      taxExempt
      paymentMethods {
        id
        provider
        kind
        brand
        last4
        expiresAt
        isDefault
      }
      subscriptions {
        externalId
        name
        status
        startedAt
        trialEndsAt
        endingAt
        cancelAtPeriodEnd
        currentPeriodStart
        currentPeriodEnd
        downgradeAt
        nextPlan {
          name
        }
        plan {
          code
          name
          description
          interval
          currency
          amount
          payInAdvance
          charges {
            billableMetric {
              code
              name
            }
          }
        }
      }
    }
  }
`);

const LIVE = new Set(["ACTIVE", "TRIALING", "PAST_DUE"]);

export function PortalHome({ info }: { info: PortalInfo }) {
  const { data, error, loading, refetch } = useQuery(PortalCustomer, { customerExternalId: info.customerExternalId });
  const customer = data?.customer;
  const live = customer?.subscriptions.filter((s) => LIVE.has(s.status)) ?? [];
  const metrics = [...new Map(live.flatMap((s) => s.plan.charges.map((c) => [c.billableMetric.code, c.billableMetric] as const))).values()];
  return (
    <>
      <div className="page-head">
        <h1>Your account with {info.organizationName}</h1>
      </div>
      <p className="muted">
        {info.customerName} · times are shown in your time zone ({viewerTimeZone()})
      </p>
      {error ? <ErrorNotice error={error} what="your account" onRetry={refetch} /> : null}
      {loading && !customer ? <Loading what="your account" /> : null}
      {customer ? (
        <>
          <section aria-labelledby="usage-heading">
            <h2 id="usage-heading">Usage this period</h2>
            {live.length === 0 ? (
              <Empty>You have no active subscription, so there is no usage to show.</Empty>
            ) : (
              live.map((s) => (
                <UsagePanel
                  key={s.externalId}
                  customerExternalId={customer.externalId}
                  subscription={s}
                  several={live.length > 1}
                />
              ))
            )}
          </section>

          <UsageAlerts customerExternalId={customer.externalId} currency={live[0]?.plan.currency ?? customer.currency} metrics={metrics} />

          <section aria-labelledby="plan-heading">
            <h2 id="plan-heading">Plan</h2>
            {customer.subscriptions.length === 0 ? <Empty>No subscription yet.</Empty> : null}
            <div className="cards">
              {customer.subscriptions.map((s) => (
                <article className="card" key={s.externalId} aria-label={`Subscription ${s.plan.name}`}>
                  <p className="label">
                    {s.name || s.plan.name} <StatusBadge status={s.status} />
                  </p>
                  <p className="figure">
                    {formatMoney(s.plan.amount, s.plan.currency)}{" "}
                    <span className="muted">{humanize(s.plan.interval).toLowerCase()}</span>
                  </p>
                  {s.plan.description ? <p className="muted">{s.plan.description}</p> : null}
                  <dl className="facts">
                    {LIVE.has(s.status) ? (
                      <div>
                        <dt>Next billing date</dt>
                        <dd data-testid="next-billing-date">{formatDate(s.currentPeriodEnd)}</dd>
                      </div>
                    ) : null}
                    <div>
                      <dt>Current period</dt>
                      <dd>
                        {formatDate(s.currentPeriodStart)} – {formatDate(s.currentPeriodEnd)}
                      </dd>
                    </div>
                    <div>
                      <dt>Fee billed</dt>
                      <dd>{s.plan.payInAdvance ? "In advance, at the start of each period" : "At the end of each period"}</dd>
                    </div>
                    {s.trialEndsAt ? (
                      <div>
                        <dt>Trial ends</dt>
                        <dd>{formatDate(s.trialEndsAt)}</dd>
                      </div>
                    ) : null}
                    {s.nextPlan ? (
                      <div>
                        <dt>Changes to</dt>
                        <dd>
                          {s.nextPlan.name} on {formatDate(s.downgradeAt)}
                        </dd>
                      </div>
                    ) : null}
                    {s.endingAt ? (
                      <div>
                        <dt>Ends</dt>
                        <dd>{formatDate(s.endingAt)}</dd>
                      </div>
                    ) : null}
                    <div>
                      <dt>Since</dt>
                      <dd>{formatDate(s.startedAt)}</dd>
                    </div>
                  </dl>
                </article>
              ))}
            </div>
          </section>

          <Invoices customerExternalId={customer.externalId} supplier={info.organizationName} />

          <PaymentMethods
            customerExternalId={customer.externalId}
            supplier={info.organizationName}
            methods={customer.paymentMethods}
            onSaved={refetch}
          />

          <BillingDetails customer={customer} supplier={info.organizationName} onSaved={refetch} />
        </>
      ) : null}
    </>
  );
}
