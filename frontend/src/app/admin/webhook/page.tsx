"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useState } from "react";
import { Pager } from "@/components/Pager";
import { PageHead, pending, withSuspense } from "@/components/Page";
import { Empty, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole } from "@/lib/auth";
import { formatDateTime } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";

// The schema has no single-endpoint query: the endpoint is found in the (short) list of the organization's.
const DeliveriesQuery = graphql(`
  query WebhookDeliveries($endpointId: ID!, $first: Int, $after: String) {
    webhookEndpoints(first: 100) {
      nodes {
        id
        url
        description
        enabled
        eventTypes
      }
    }
    webhookDeliveries(endpointId: $endpointId, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        eventId
        eventType
        attempt
        status
        responseStatus
        responseBodyExcerpt
        error
        durationMs
        nextAttemptAt
        attemptedAt
        manual
        createdAt
      }
    }
  }
`);

const Redeliver = graphql(`
  mutation RedeliverWebhook($deliveryId: ID!) {
    redeliverWebhook(input: { deliveryId: $deliveryId }) {
      delivery {
        id
        status
        attempt
        responseStatus
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const TONE: Record<string, string> = { SUCCEEDED: "ok", FAILED: "bad", PENDING: "info", SENDING: "info", SKIPPED: "" };
const STATUS_WORDS: Record<string, string> = {
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  PENDING: "Pending",
  SENDING: "Sending",
  SKIPPED: "Skipped",
};

function Deliveries() {
  const id = useSearchParams().get("id") ?? "";
  const role = useRole();
  const isAdmin = atLeast(role, "ADMIN");
  const pager = useCursorPager();
  const { data, error, loading, refetch } = useQuery(DeliveriesQuery, { endpointId: id, first: 25, after: pager.after }, { skip: !id || !isAdmin });
  const [redeliver, redelivering] = useMutation(Redeliver);
  const [busy, setBusy] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ text: string; tone: "success" | "error" } | null>(null);

  if (!id) return <Empty>No endpoint chosen: pick one from the webhook endpoints.</Empty>;
  if (!role) return <Loading what="your role" />;
  if (!isAdmin) return <Empty>Webhook deliveries are seen by administrators of your organization.</Empty>;
  const waiting = pending({ data, error, loading, refetch }, "the deliveries");
  if (waiting) return waiting;
  const endpoint = data?.webhookEndpoints.nodes.find((e) => e.id === id);
  if (!endpoint) {
    return (
      <Empty>
        There is no webhook endpoint with this id. <Link href="/admin/webhooks">Back to the endpoints</Link>
      </Empty>
    );
  }
  const connection = data!.webhookDeliveries;

  async function send(deliveryId: string) {
    setOutcome(null);
    setBusy(deliveryId);
    try {
      const payload = (await redeliver({ deliveryId })).redeliverWebhook;
      if (payload.userErrors.length) setOutcome({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
      else {
        const d = payload.delivery;
        const answer = d?.responseStatus ? `, answered ${d.responseStatus}` : "";
        setOutcome({ tone: "success", text: `Sent again as attempt ${d?.attempt ?? "?"}: ${STATUS_WORDS[d?.status ?? ""] ?? d?.status}${answer}.` });
      }
      pager.reset();
      refetch();
    } catch (failure) {
      setOutcome({ tone: "error", text: failure instanceof ApiError ? failure.message : "The redelivery failed." });
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      <PageHead
        title={`Deliveries to ${endpoint.url}`}
        heading={
          <>
            Deliveries <span className="badge">{endpoint.enabled ? "Enabled" : "Disabled"}</span>
          </>
        }
        section={{ href: "/admin/webhooks", label: "Webhook endpoints" }}
        actions={
          <button type="button" className="secondary" onClick={refetch} disabled={loading}>
            {loading ? "Refreshing…" : "Refresh"}
          </button>
        }
      />
      <p>
        To <span className="mono">{endpoint.url}</span>
        {endpoint.description ? ` · ${endpoint.description}` : ""}
      </p>
      <p className="muted">Events: {endpoint.eventTypes.join(", ")}. Every attempt is listed, newest first; a redelivery is a new attempt.</p>
      {outcome ? (
        <p className={`notice ${outcome.tone}`} role={outcome.tone === "error" ? "alert" : "status"}>
          {outcome.text}
        </p>
      ) : null}
      {connection.nodes.length === 0 ? (
        <Empty>Nothing delivered yet: deliveries appear here when one of its events happens. Press Refresh to look again.</Empty>
      ) : (
        <>
          <Table caption="Deliveries, newest first">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Attempt</th>
                <th scope="col">Status</th>
                <th scope="col">Answer</th>
                <th scope="col">Body excerpt</th>
                <th scope="col">Sent</th>
                <th scope="col">Next attempt</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {connection.nodes.map((d) => (
                <tr key={d.id}>
                  <td>
                    <span className="mono">{d.eventType}</span>
                    <div className="muted mono">{d.eventId}</div>
                  </td>
                  <td className="num">
                    {d.attempt}
                    {d.manual ? <div className="muted">by hand</div> : null}
                  </td>
                  <td>
                    <span className={`badge ${TONE[d.status] ?? ""}`}>{STATUS_WORDS[d.status] ?? d.status}</span>
                  </td>
                  <td>
                    {d.responseStatus ? `HTTP ${d.responseStatus}` : "no answer"}
                    {d.error ? <div className="muted">{d.error}</div> : null}
                    {d.durationMs !== null && d.durationMs !== undefined ? <div className="muted">{d.durationMs} ms</div> : null}
                  </td>
                  <td>{d.responseBodyExcerpt ? <pre className="excerpt">{d.responseBodyExcerpt}</pre> : <span className="muted">empty</span>}</td>
                  <td>{d.attemptedAt ? formatDateTime(d.attemptedAt) : <span className="muted">not yet</span>}</td>
                  <td>{d.nextAttemptAt ? formatDateTime(d.nextAttemptAt) : <span className="muted">none</span>}</td>
                  <td>
                    <button type="button" className="secondary" disabled={redelivering || !endpoint.enabled} onClick={() => send(d.id)}>
                      {busy === d.id ? "Sending…" : "Redeliver"}
                      <span className="visually-hidden">
                        {" "}
                        {d.eventType} attempt {d.attempt}
                      </span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
          {!endpoint.enabled ? <p className="muted">Enable the endpoint to redeliver to it.</p> : null}
          <Pager
            page={pager.page}
            hasNext={connection.pageInfo.hasNextPage}
            total={connection.totalCount}
            shown={connection.nodes.length}
            noun="deliveries"
            onPrevious={pager.previous}
            onNext={() => pager.next(connection.pageInfo.endCursor)}
          />
        </>
      )}
    </>
  );
}

export default withSuspense(Deliveries, "the deliveries");
