"use client";

import { Fragment, useState, type FormEvent } from "react";
import { ConfirmAction } from "@/components/ConfirmAction";
import { Field, FormProblems } from "@/components/Field";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { UsageAlertThresholdType } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { formatDate, formatDateTime, formatDecimal, formatMoney } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";

const PortalUsageAlerts = graphql(`
  query PortalUsageAlerts($customerExternalId: String!) {
    usageAlerts(customerExternalId: $customerExternalId) {
      id
      name
      thresholdType
      threshold
      metricCode
      lastTriggeredAt
      lastTriggeredValue
      lastTriggeredPeriodStart
    }
  }
`);

const CreateAlert = graphql(`
  mutation PortalCreateUsageAlert($input: CreateUsageAlertInput!) {
    createUsageAlert(input: $input) {
      usageAlert {
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

const UpdateAlert = graphql(`
  mutation PortalUpdateUsageAlert($input: UpdateUsageAlertInput!) {
    updateUsageAlert(input: $input) {
      usageAlert {
        id
        threshold
        name
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const DeleteAlert = graphql(`
  mutation PortalDeleteUsageAlert($id: ID!) {
    deleteUsageAlert(input: { id: $id }) {
      usageAlert {
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

export type Metric = { code: string; name: string };

type Alert = {
  id: string;
  name: string;
  thresholdType: UsageAlertThresholdType;
  threshold: string;
  metricCode?: string | null;
};

function describe(alert: Alert, currency: string, metrics: Metric[]): string {
  const metric = metrics.find((m) => m.code === alert.metricCode)?.name ?? alert.metricCode;
  if (alert.thresholdType === "UNITS") return `${formatDecimal(alert.threshold)} ${metric ?? ""}`.trim();
  return `${formatMoney(alert.threshold, currency)}${metric ? ` of ${metric}` : ""}`;
}

function NewAlertForm({
  customerExternalId,
  currency,
  metrics,
  onCreated,
}: {
  customerExternalId: string;
  currency: string;
  metrics: Metric[];
  onCreated(text: string): void;
}) {
  const [create, creating] = useMutation(CreateAlert);
  const [kind, setKind] = useState<UsageAlertThresholdType>("AMOUNT");
  const [threshold, setThreshold] = useState("");
  const [metric, setMetric] = useState("");
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["threshold", "metricCode", "name", "thresholdType"]);
  const units = kind === "UNITS";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    const value = threshold.trim().replace(",", ".");
    if (!value) {
      setErrors([{ field: ["input", "threshold"], code: "REQUIRED", message: "Give the amount or quantity to be told at." }]);
      return;
    }
    try {
      const payload = (
        await create({
          input: {
            customerExternalId,
            thresholdType: kind,
            threshold: value,
            metricCode: metric || null,
            name: name.trim() || null,
          },
        })
      ).createUsageAlert;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length) {
        onCreated("The alert is set. You will get an email the first time each billing period that it is reached.");
        setThreshold("");
        setName("");
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The alert could not be set.");
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="new-alert" noValidate autoComplete="off">
      <h3 id="new-alert">Add an alert</h3>
      <FormProblems failure={failure} messages={general} />
      <div className="inline-form">
        <Field id="alert-kind" label="Tell me when">
          <select
            id="alert-kind"
            value={kind}
            onChange={(e) => {
              const next = e.target.value as UsageAlertThresholdType;
              setKind(next);
              if (next === "UNITS" && !metric && metrics.length) setMetric(metrics[0].code);
            }}
          >
            <option value="AMOUNT">usage charges reach an amount</option>
            <option value="UNITS" disabled={!metrics.length}>
              a metric&apos;s usage reaches a quantity
            </option>
          </select>
        </Field>
        <Field id="alert-metric" label="Metric" error={at("metricCode")}>
          <select
            id="alert-metric"
            value={metric}
            onChange={(e) => setMetric(e.target.value)}
            aria-invalid={!!at("metricCode")}
            aria-describedby={describedBy("alert-metric", false, at("metricCode"))}
          >
            {units ? null : <option value="">All usage</option>}
            {metrics.map((m) => (
              <option key={m.code} value={m.code}>
                {m.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id="alert-threshold"
          label={units ? "Quantity" : `Amount (${currency})`}
          hint={units ? "In the metric's units, e.g. 10000" : "Before tax, e.g. 800.00"}
          error={at("threshold")}
        >
          <input
            id="alert-threshold"
            inputMode="decimal"
            required
            value={threshold}
            onChange={(e) => setThreshold(e.target.value)}
            aria-invalid={!!at("threshold")}
            aria-describedby={describedBy("alert-threshold", true, at("threshold"))}
          />
        </Field>
        <Field id="alert-name" label="Name (optional)" error={at("name")}>
          <input
            id="alert-name"
            value={name}
            maxLength={200}
            placeholder="80 % of budget"
            onChange={(e) => setName(e.target.value)}
            aria-invalid={!!at("name")}
            aria-describedby={describedBy("alert-name", false, at("name"))}
          />
        </Field>
        <button type="submit" disabled={creating}>
          {creating ? "Adding…" : "Add alert"}
        </button>
      </div>
    </form>
  );
}

/** The threshold and the name of one alert, changed in place (what it measures stays: delete and add for that). */
function EditAlertForm({
  alert,
  label,
  currency,
  onDone,
  onCancel,
}: {
  alert: Alert;
  label: string;
  currency: string;
  onDone(text: string): void;
  onCancel(): void;
}) {
  const [update, saving] = useMutation(UpdateAlert);
  const [threshold, setThreshold] = useState(alert.threshold);
  const [name, setName] = useState(alert.name);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["threshold", "name"]);
  const units = alert.thresholdType === "UNITS";
  const id = `edit-alert-${alert.id}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    const value = threshold.trim().replace(",", ".");
    if (!value) {
      setErrors([{ field: ["input", "threshold"], code: "REQUIRED", message: "Give the amount or quantity to be told at." }]);
      return;
    }
    try {
      const payload = (await update({ input: { id: alert.id, threshold: value, name: name.trim() } })).updateUsageAlert;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.usageAlert) onDone(`The alert at ${label} is changed.`);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The alert could not be changed.");
    }
  }

  return (
    <form onSubmit={submit} aria-label={`Change the alert at ${label}`} noValidate autoComplete="off">
      <FormProblems failure={failure} messages={general} />
      <div className="inline-form">
        <Field
          id={`${id}-threshold`}
          label={units ? "Quantity" : `Amount (${currency})`}
          hint={units ? "In the metric's units, e.g. 10000" : "Before tax, e.g. 800.00"}
          error={at("threshold")}
        >
          <input
            id={`${id}-threshold`}
            inputMode="decimal"
            required
            value={threshold}
            onChange={(e) => setThreshold(e.target.value)}
            aria-invalid={!!at("threshold")}
            aria-describedby={describedBy(`${id}-threshold`, true, at("threshold"))}
          />
        </Field>
        <Field id={`${id}-name`} label="Name (optional)" error={at("name")}>
          <input
            id={`${id}-name`}
            value={name}
            maxLength={200}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={!!at("name")}
            aria-describedby={describedBy(`${id}-name`, false, at("name"))}
          />
        </Field>
        <button type="submit" disabled={saving}>
          {saving ? "Saving…" : "Save alert"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function DeleteButton({ alert, label, onDone }: { alert: Alert; label: string; onDone(text: string, ok: boolean): void }) {
  const [remove, removing] = useMutation(DeleteAlert);
  async function run() {
    try {
      const payload = (await remove({ id: alert.id })).deleteUsageAlert;
      if (payload.userErrors.length) onDone(payload.userErrors.map((e) => e.message).join(" "), false);
      else onDone(`The alert at ${label} is deleted.`, true);
    } catch (error) {
      onDone(error instanceof ApiError ? error.message : "The alert could not be deleted.", false);
    }
  }
  return (
    <ConfirmAction
        id={`delete-alert-${alert.id}`}
        label="Delete…"
        hidden={`the alert at ${label}`}
        group={`Confirm deleting the alert at ${label}`}
        action="Delete alert"
        busyAction="Deleting…"
        busy={removing}
        onConfirm={() => void run()}
      >
        Delete this alert? You will no longer be told when usage reaches {label}.
      </ConfirmAction>
  );
}

/** The customer's usage alerts: what they are set at, when each last fired; add one, change its threshold or name, delete one. */
export function UsageAlerts({ customerExternalId, currency, metrics }: { customerExternalId: string; currency: string; metrics: Metric[] }) {
  const { data, error, loading, refetch } = useQuery(PortalUsageAlerts, { customerExternalId });
  const [outcome, setOutcome] = useState<{ text: string; ok: boolean } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const alerts = data?.usageAlerts;
  const done = (text: string, ok: boolean) => {
    setOutcome({ text, ok });
    refetch();
  };
  return (
    <section aria-labelledby="alerts-heading">
      <h2 id="alerts-heading">Usage alerts</h2>
      <p className="muted">
        Get an email when this billing period&apos;s usage reaches an amount or a quantity you choose: once per period and alert.
        Alerts are checked every few minutes; they do not stop or limit usage.
      </p>
      {outcome ? (
        <p className={`notice ${outcome.ok ? "success" : "error"}`} role={outcome.ok ? "status" : "alert"}>
          {outcome.text}
        </p>
      ) : null}
      {error ? <ErrorNotice error={error} what="your usage alerts" onRetry={refetch} /> : null}
      {loading && !alerts ? <Loading what="your usage alerts" /> : null}
      {alerts && alerts.length === 0 ? <Empty>No alert is set.</Empty> : null}
      {alerts && alerts.length > 0 ? (
        <Table caption="Usage alerts">
          <thead>
            <tr>
              <th scope="col">Alert</th>
              <th scope="col">When usage reaches</th>
              <th scope="col">Last reached</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => {
              const label = describe(a, currency, metrics);
              const open = editing === a.id;
              return (
                <Fragment key={a.id}>
                  <tr>
                    <td>{a.name || <span className="muted">Unnamed</span>}</td>
                    <td>{label}</td>
                    <td>
                      {a.lastTriggeredAt ? (
                        <>
                          {formatDateTime(a.lastTriggeredAt)}{" "}
                          <span className="muted">
                            ({a.thresholdType === "UNITS" ? formatDecimal(a.lastTriggeredValue) : formatMoney(a.lastTriggeredValue, currency)} in
                            the period from {formatDate(a.lastTriggeredPeriodStart)})
                          </span>
                        </>
                      ) : (
                        <span className="muted">Not yet</span>
                      )}
                    </td>
                    <td>
                      <div className="actions">
                        <button
                          type="button"
                          className="secondary"
                          aria-expanded={open}
                          aria-controls={`edit-alert-${a.id}-row`}
                          onClick={() => setEditing(open ? null : a.id)}
                        >
                          Edit…<span className="visually-hidden"> the alert at {label}</span>
                        </button>
                        <DeleteButton alert={a} label={label} onDone={done} />
                      </div>
                    </td>
                  </tr>
                  {open ? (
                    <tr id={`edit-alert-${a.id}-row`}>
                      <td colSpan={4}>
                        <EditAlertForm
                          alert={a}
                          label={label}
                          currency={currency}
                          onCancel={() => setEditing(null)}
                          onDone={(text) => {
                            setEditing(null);
                            done(text, true);
                          }}
                        />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              );
            })}
          </tbody>
        </Table>
      ) : null}
      <NewAlertForm customerExternalId={customerExternalId} currency={currency} metrics={metrics} onCreated={(text) => done(text, true)} />
    </section>
  );
}
