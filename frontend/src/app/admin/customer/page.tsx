"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useState } from "react";
import { CustomerForm, customerValues } from "@/components/CustomerForm";
import { InvoiceTable } from "@/components/InvoiceTable";
import { LiveUsage } from "@/components/LiveUsage";
import { PageHead, pending, withSuspense } from "@/components/Page";
import { PortalLinkPanel } from "@/components/PortalLinkPanel";
import { StatusBadge } from "@/components/StatusBadge";
import { SubscribeForm } from "@/components/SubscribeForm";
import { SubscriptionActions } from "@/components/SubscriptionActions";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole } from "@/lib/auth";
import { formatDate, formatDateTime } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const CustomerQuery = graphql(`
  query CustomerDetail($externalId: String!) {
    customer(externalId: $externalId) {
      id
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
      createdAt
      subscriptions {
        id
        externalId
        name
        status
        billingTime
        startedAt
        trialEndsAt
        endingAt
        terminatedAt
        currentPeriodStart
        currentPeriodEnd
        plan {
          code
          name
        }
        nextPlan {
          code
          name
        }
        downgradeAt
      }
    }
    plans(first: 100) {
      nodes {
        code
        name
        currency
        interval
        amount
        payInAdvance
        archivedAt
      }
    }
    invoices(customerExternalId: $externalId, first: 10) {
      totalCount
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
      }
    }
  }
`);

const LIVE = new Set(["ACTIVE", "TRIALING", "PAST_DUE"]);
// What a plan change or a termination may still act on.
const CHANGEABLE = new Set([...LIVE, "PENDING"]);

function address(c: { addressLine1?: string | null; addressLine2?: string | null; postalCode?: string | null; city?: string | null; state?: string | null }) {
  const parts = [c.addressLine1, c.addressLine2, [c.postalCode, c.city].filter(Boolean).join(" "), c.state].filter(Boolean);
  return parts.length ? parts.join(", ") : "—";
}

function CustomerDetail() {
  const externalId = useSearchParams().get("id") ?? "";
  const role = useRole();
  const { data, error, loading, refetch } = useQuery(CustomerQuery, { externalId }, { skip: !externalId });
  const mayChange = may(role, "changeSubscriptions");
  const [done, setDone] = useState<string | null>(null);
  const [editing, setEditing] = useState<"details" | "subscribe" | null>(null);
  const mayManage = may(role, "manageCustomers");
  if (!externalId) return <Empty>No customer chosen: pick one from the customers list.</Empty>;
  const waiting = pending({ data, error, loading, refetch }, "the customer");
  if (waiting) return waiting;
  const customer = data?.customer;
  if (!customer) {
    return (
      <Empty>
        There is no customer with the id <code>{externalId}</code>. <Link href="/admin/customers">Back to the customers</Link>
      </Empty>
    );
  }
  const live = customer.subscriptions.filter((s) => LIVE.has(s.status));
  return (
    <>
      <PageHead
        title={customer.name || customer.externalId}
        section={{ href: "/admin/customers", label: "Customers" }}
        actions={
          mayManage ? (
            <>
              <button type="button" className="secondary" aria-expanded={editing === "details"} onClick={() => setEditing(editing === "details" ? null : "details")}>
                Edit details
              </button>
              <button type="button" className="secondary" aria-expanded={editing === "subscribe"} onClick={() => setEditing(editing === "subscribe" ? null : "subscribe")}>
                Subscribe to a plan
              </button>
            </>
          ) : null
        }
      />
      {editing === "details" ? (
        <CustomerForm
          initial={customerValues(customer)}
          onSaved={() => {
            setEditing(null);
            setDone("The customer's details are saved.");
            refetch();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      {editing === "subscribe" ? (
        <SubscribeForm
          customerExternalId={customer.externalId}
          plans={data.plans.nodes.filter((p) => !p.archivedAt)}
          currency={customer.currency}
          existing={customer.subscriptions.length}
          onSubscribed={(text) => {
            setEditing(null);
            setDone(text);
            refetch();
          }}
          onCancel={() => setEditing(null)}
        />
      ) : null}
      <section className="panel" aria-labelledby="customer-facts">
        <h2 id="customer-facts">Details</h2>
        <dl className="facts">
          <div>
            <dt>External id</dt>
            <dd className="mono">{customer.externalId}</dd>
          </div>
          <div>
            <dt>Legal name</dt>
            <dd>{customer.legalName ?? "—"}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>{customer.email ?? "—"}</dd>
          </div>
          <div>
            <dt>Address</dt>
            <dd>{address(customer)}</dd>
          </div>
          <div>
            <dt>Country</dt>
            <dd>{customer.country ?? "—"}</dd>
          </div>
          <div>
            <dt>Currency</dt>
            <dd>{customer.currency ?? "— (set by the first subscription)"}</dd>
          </div>
          <div>
            <dt>Time zone</dt>
            <dd>{customer.timezone ?? "the organization's"}</dd>
          </div>
          <div>
            <dt>Tax id</dt>
            <dd>{customer.taxIdentificationNumber ?? "—"}</dd>
          </div>
          <div>
            <dt>Tax</dt>
            <dd>{customer.taxExempt ? "Exempt" : "Taxed"}</dd>
          </div>
          <div>
            <dt>Customer since</dt>
            <dd>{formatDate(customer.createdAt)}</dd>
          </div>
        </dl>
      </section>

      {may(role, "portalLinks") ? <PortalLinkPanel customerExternalId={customer.externalId} /> : null}

      <h2>Subscriptions</h2>
      {done ? (
        <p className="notice success" role="status">
          {done}
        </p>
      ) : null}
      {customer.subscriptions.length === 0 ? (
        <Empty>No subscriptions yet.</Empty>
      ) : (
        <Table caption="Subscriptions, oldest first">
          <thead>
            <tr>
              <th scope="col">Subscription</th>
              <th scope="col">Plan</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Current period</th>
              <th scope="col">Notes</th>
            </tr>
          </thead>
          <tbody>
            {customer.subscriptions.map((s) => (
              <tr key={s.id}>
                <td>
                  {s.name ? <>{s.name} </> : null}
                  <span className="mono">{s.externalId}</span>
                </td>
                <td>
                  <Link href={`/admin/plan?code=${encodeURIComponent(s.plan.code)}`}>{s.plan.name}</Link>
                </td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{formatDate(s.startedAt)}</td>
                <td>
                  {s.currentPeriodStart ? `${formatDate(s.currentPeriodStart)} – ${formatDate(s.currentPeriodEnd)}` : "—"}
                </td>
                <td>
                  {[
                    s.trialEndsAt ? `trial until ${formatDate(s.trialEndsAt)}` : null,
                    s.nextPlan ? `moves to ${s.nextPlan.name} on ${formatDate(s.downgradeAt)}` : null,
                    s.endingAt ? `ends ${formatDateTime(s.endingAt)}` : null,
                    s.terminatedAt ? `terminated ${formatDateTime(s.terminatedAt)}` : null,
                  ]
                    .filter(Boolean)
                    .join("; ") || "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}

      {mayChange
        ? customer.subscriptions
            .filter((s) => CHANGEABLE.has(s.status))
            .map((s) => (
              <SubscriptionActions
                key={s.id}
                subscription={s}
                plans={data.plans.nodes.filter((p) => !p.archivedAt)}
                currency={customer.currency}
                onChanged={(text) => {
                  setDone(text);
                  refetch();
                }}
              />
            ))
        : null}

      {live.map((s) => (
        <LiveUsage key={s.id} customerExternalId={customer.externalId} subscriptionExternalId={s.externalId} />
      ))}

      <h2>Invoices</h2>
      {data.invoices.nodes.length === 0 ? (
        <Empty>No invoices yet.</Empty>
      ) : (
        <>
          <InvoiceTable invoices={data.invoices.nodes} caption="Latest invoices of the customer" showCustomer={false} />
          {data.invoices.totalCount > data.invoices.nodes.length ? (
            <p className="muted">
              The {data.invoices.nodes.length} latest of {data.invoices.totalCount} invoices.
            </p>
          ) : null}
        </>
      )}
    </>
  );
}

export default withSuspense(CustomerDetail, "the customer");
