"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { Field, FormProblems } from "@/components/Field";
import { OneTimeSecret } from "@/components/OneTimeSecret";
import { ConnectionView, PageHead } from "@/components/Page";
import { Empty, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import { useRole, type UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { formatDateTime } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";
import { WEBHOOK_EVENT_TYPES } from "@/lib/webhooks";

const EndpointsQuery = graphql(`
  query WebhookEndpoints($first: Int, $after: String) {
    webhookEndpoints(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        url
        eventTypes
        description
        enabled
        disabledReason
        failingSince
        createdAt
      }
    }
  }
`);

const CreateEndpoint = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      endpoint {
        id
        url
      }
      secret
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const UpdateEndpoint = graphql(`
  mutation SetWebhookEndpointEnabled($id: ID!, $enabled: Boolean!) {
    updateWebhookEndpoint(input: { id: $id, enabled: $enabled }) {
      endpoint {
        id
        enabled
        disabledReason
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const DeleteEndpoint = graphql(`
  mutation DeleteWebhookEndpoint($id: ID!) {
    deleteWebhookEndpoint(input: { id: $id }) {
      endpoint {
        id
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const FIELDS = ["url", "eventTypes", "description"];

function NewEndpointForm({ onCreated }: { onCreated(url: string, secret: string): void }) {
  const [create, creating] = useMutation(CreateEndpoint);
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState<string[]>([]);
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, FIELDS);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const payload = (await create({ input: { url: url.trim(), eventTypes: types, description } })).createWebhookEndpoint;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.endpoint && payload.secret) {
        onCreated(payload.endpoint.url, payload.secret);
        setUrl("");
        setTypes([]);
        setDescription("");
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The endpoint could not be created.");
    }
  }

  const toggle = (type: string, on: boolean) => setTypes((t) => (on ? [...t, type] : t.filter((x) => x !== type)));
  const typesError = at("eventTypes");

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="new-endpoint" noValidate>
      <h2 id="new-endpoint">New webhook endpoint</h2>
      <FormProblems failure={failure} messages={general} />
      <Field id="endpoint-url" label="URL" hint="Where the signed POST requests go: https://… on a public address." error={at("url")}>
        <input
          id="endpoint-url"
          type="url"
          inputMode="url"
          required
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          aria-invalid={!!at("url")}
          aria-describedby={describedBy("endpoint-url", true, at("url"))}
        />
      </Field>
      <fieldset aria-describedby={describedBy("endpoint-types", true, typesError)}>
        <legend>Event types</legend>
        <p className="hint muted" id="endpoint-types-hint">
          What this endpoint is sent.
        </p>
        <div className="choices">
          {WEBHOOK_EVENT_TYPES.map((type) => (
            <label key={type}>
              <input type="checkbox" checked={types.includes(type)} onChange={(e) => toggle(type, e.target.checked)} />
              {type}
            </label>
          ))}
        </div>
        {typesError ? (
          <p className="error form-error" id="endpoint-types-error">
            {typesError}
          </p>
        ) : null}
      </fieldset>
      <Field id="endpoint-description" label="Description" hint="Optional: what receives them, e.g. ERP sync." error={at("description")}>
        <input
          id="endpoint-description"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          aria-invalid={!!at("description")}
          aria-describedby={describedBy("endpoint-description", true, at("description"))}
        />
      </Field>
      <button type="submit" disabled={creating}>
        {creating ? "Creating…" : "Create endpoint"}
      </button>
    </form>
  );
}

type Endpoint = { id: string; url: string; enabled: boolean };

function EndpointActions({ endpoint, onChanged }: { endpoint: Endpoint; onChanged(text: string, tone: "success" | "error"): void }) {
  const [update, updating] = useMutation(UpdateEndpoint);
  const [remove, removing] = useMutation(DeleteEndpoint);
  const [confirming, setConfirming] = useState(false);
  const confirmId = `delete-${endpoint.id}`;

  async function act(run: () => Promise<{ userErrors: { message: string }[] }>, done: string) {
    try {
      const payload = await run();
      onChanged(payload.userErrors.length ? payload.userErrors.map((e) => e.message).join(" ") : done, payload.userErrors.length ? "error" : "success");
    } catch (error) {
      onChanged(error instanceof ApiError ? error.message : "The change failed.", "error");
    }
  }

  return (
    <div className="actions">
      <Link className="button secondary" href={`/admin/webhook?id=${encodeURIComponent(endpoint.id)}`}>
        Deliveries<span className="visually-hidden"> to {endpoint.url}</span>
      </Link>
      <button
        type="button"
        className="secondary"
        disabled={updating}
        onClick={() =>
          act(async () => (await update({ id: endpoint.id, enabled: !endpoint.enabled })).updateWebhookEndpoint, endpoint.enabled ? `${endpoint.url} is disabled: nothing is sent to it.` : `${endpoint.url} is enabled again.`)
        }
      >
        {endpoint.enabled ? "Disable" : "Enable"}
        <span className="visually-hidden"> {endpoint.url}</span>
      </button>
      <button type="button" className="secondary" aria-expanded={confirming} aria-controls={confirmId} onClick={() => setConfirming((c) => !c)}>
        Delete…<span className="visually-hidden"> {endpoint.url}</span>
      </button>
      {confirming ? (
        <div id={confirmId} className="confirm" role="group" aria-label={`Confirm deleting ${endpoint.url}`}>
          <span>Delete this endpoint and its delivery log? Nothing more is sent to it. This cannot be undone.</span>
          <button type="button" className="danger" disabled={removing} onClick={() => act(async () => (await remove({ id: endpoint.id })).deleteWebhookEndpoint, `${endpoint.url} is deleted.`)}>
            {removing ? "Deleting…" : "Delete endpoint"}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : null}
    </div>
  );
}

export default function WebhooksPage() {
  const role = useRole();
  const isAdmin = atLeast(role, "ADMIN");
  const pager = useCursorPager();
  const { data, error, loading, refetch } = useQuery(EndpointsQuery, { first: 25, after: pager.after }, { skip: !isAdmin });
  const [created, setCreated] = useState<{ url: string; secret: string } | null>(null);
  const [outcome, setOutcome] = useState<{ text: string; tone: "success" | "error" } | null>(null);
  const connection = data?.webhookEndpoints;

  return (
    <>
      <PageHead title="Webhooks" heading="Webhook endpoints" />
      <p className="muted">
        Where your systems are told what changed: a signed POST (Standard Webhooks) for each event an endpoint subscribes to,
        retried with backoff until it is answered with a 2xx.
      </p>
      {!role ? <Loading what="your role" /> : null}
      {role && !isAdmin ? <Empty>Webhook endpoints are managed by administrators of your organization.</Empty> : null}
      {created ? <OneTimeSecret label={`Signing secret of ${created.url}`} secret={created.secret} onDismiss={() => setCreated(null)} /> : null}
      {outcome ? (
        <p className={`notice ${outcome.tone}`} role={outcome.tone === "error" ? "alert" : "status"}>
          {outcome.text}
        </p>
      ) : null}
      {isAdmin ? (
        <ConnectionView
          connection={connection}
          state={{ error, loading, refetch }}
          what="webhook endpoints"
          noun="endpoints"
          failed="the webhook endpoints"
          empty="No webhook endpoints yet: add one below."
          pager={pager}
        >
          {(nodes) => (
            <Table caption="Webhook endpoints, oldest first">
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Event types</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {nodes.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <span className="mono">{e.url}</span>
                      {e.description ? <div className="muted">{e.description}</div> : null}
                    </td>
                    <td className="mono">{e.eventTypes.join(", ")}</td>
                    <td>
                      <span className={`badge ${e.enabled ? (e.failingSince ? "warn" : "ok") : ""}`}>{e.enabled ? (e.failingSince ? "Failing" : "Enabled") : "Disabled"}</span>
                      {e.failingSince ? <div className="muted">failing since {formatDateTime(e.failingSince)}</div> : null}
                      {!e.enabled && e.disabledReason ? <div className="muted">{e.disabledReason}</div> : null}
                    </td>
                    <td>{formatDateTime(e.createdAt)}</td>
                    <td>
                      <EndpointActions
                        endpoint={e}
                        onChanged={(text, tone) => {
                          setOutcome({ text, tone });
                          refetch();
                        }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </ConnectionView>
      ) : null}
      {isAdmin ? (
        <NewEndpointForm
          onCreated={(url, secret) => {
            setOutcome(null);
            setCreated({ url, secret });
            refetch();
          }}
        />
      ) : null}
    </>
  );
}
