"use client";

import { useState, type FormEvent } from "react";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { Aggregation } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { formatDate, humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";

const AGGREGATIONS: { value: Aggregation; words: string }[] = [
  { value: "COUNT", words: "number of events" },
  { value: "SUM", words: "sum of a property" },
  { value: "MAX", words: "highest value of a property" },
  { value: "UNIQUE_COUNT", words: "distinct values of a property" },
  { value: "LATEST", words: "last value of a property" },
  { value: "WEIGHTED_SUM", words: "value × time in effect, e.g. GB-hours" },
];

const MetricsQuery = graphql(`
  query BillableMetrics($first: Int, $after: String) {
    billableMetrics(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        code
        name
        description
        aggregation
        fieldName
        recurring
        createdAt
        filters {
          key
          values
        }
      }
    }
  }
`);

const CreateMetric = graphql(`
  mutation CreateBillableMetric($input: CreateBillableMetricInput!) {
    createBillableMetric(input: $input) {
      billableMetric {
        id
        code
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

function NewMetricForm({ onCreated }: { onCreated(code: string): void }) {
  const [create, creating] = useMutation(CreateMetric);
  const [code, setCode] = useState("");
  const [name, setName] = useState("");
  const [aggregation, setAggregation] = useState<Aggregation>("COUNT");
  const [fieldName, setFieldName] = useState("");
  const [recurring, setRecurring] = useState(false);
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const needsField = aggregation !== "COUNT";

  const errorAt = (field: string) => errors.find((e) => e.field?.[e.field.length - 1] === field)?.message;
  const general = errors.filter((e) => !e.field || !["code", "name", "fieldName", "aggregation", "description"].includes(e.field[e.field.length - 1]));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const data = await create({
        input: { code: code.trim(), name: name.trim(), aggregation, fieldName: needsField ? fieldName.trim() || null : null, recurring, description },
      });
      const payload = data.createBillableMetric;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.billableMetric) {
        onCreated(payload.billableMetric.code);
        setCode("");
        setName("");
        setFieldName("");
        setDescription("");
        setRecurring(false);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The metric could not be created.");
    }
  }

  const field = (id: string, label: string, input: React.ReactNode, hint?: string) => {
    const message = errorAt(id);
    return (
      <div className="field">
        <label htmlFor={`metric-${id}`}>{label}</label>
        {hint ? (
          <span className="hint" id={`metric-${id}-hint`}>
            {hint}
          </span>
        ) : null}
        {input}
        {message ? (
          <span className="error" id={`metric-${id}-error`}>
            {message}
          </span>
        ) : null}
      </div>
    );
  };
  const describedBy = (id: string, hint: boolean) =>
    [hint ? `metric-${id}-hint` : "", errorAt(id) ? `metric-${id}-error` : ""].filter(Boolean).join(" ") || undefined;

  return (
    <form className="panel" onSubmit={submit} aria-labelledby="new-metric" noValidate>
      <h2 id="new-metric">New billable metric</h2>
      {general.length || failure ? (
        <div className="notice error" role="alert">
          {failure ? <p>{failure}</p> : null}
          {general.map((e) => (
            <p key={e.code + e.message}>{e.message}</p>
          ))}
        </div>
      ) : null}
      {field(
        "code",
        "Code",
        <input id="metric-code" required value={code} onChange={(e) => setCode(e.target.value)} aria-invalid={!!errorAt("code")} aria-describedby={describedBy("code", true)} />,
        "What usage events name as their metricCode, e.g. api_calls. Unique in your organization.",
      )}
      {field("name", "Name", <input id="metric-name" required value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!errorAt("name")} aria-describedby={describedBy("name", false)} />)}
      {field(
        "aggregation",
        "Aggregation",
        <select id="metric-aggregation" value={aggregation} onChange={(e) => setAggregation(e.target.value as Aggregation)} aria-describedby={describedBy("aggregation", false)}>
          {AGGREGATIONS.map((a) => (
            <option key={a.value} value={a.value}>
              {humanize(a.value)}: {a.words}
            </option>
          ))}
        </select>,
      )}
      {needsField
        ? field(
            "fieldName",
            "Property",
            <input id="metric-fieldName" required value={fieldName} onChange={(e) => setFieldName(e.target.value)} aria-invalid={!!errorAt("fieldName")} aria-describedby={describedBy("fieldName", true)} />,
            "The event property that is aggregated, e.g. tokens.",
          )
        : null}
      <div className="field-inline">
        <input id="metric-recurring" type="checkbox" checked={recurring} onChange={(e) => setRecurring(e.target.checked)} aria-describedby="metric-recurring-hint" />
        <label htmlFor="metric-recurring">Recurring</label>
        <span className="hint muted" id="metric-recurring-hint">
          the value carries into the next period (seats)
        </span>
      </div>
      {field("description", "Description", <textarea id="metric-description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} aria-describedby={describedBy("description", false)} />)}
      <button type="submit" disabled={creating}>
        {creating ? "Creating…" : "Create metric"}
      </button>
    </form>
  );
}

export default function MetricsPage() {
  const role = useRole();
  const pager = useCursorPager();
  const { data, error, loading, refetch } = useQuery(MetricsQuery, { first: 25, after: pager.after });
  const [created, setCreated] = useState<string | null>(null);
  const connection = data?.billableMetrics;
  return (
    <>
      <PageHead title="Billable metrics" />
      <p className="muted">What is measured from usage events, and how a period&apos;s events add up.</p>
      {created ? (
        <p className="notice success" role="status">
          The metric <code>{created}</code> is created.
        </p>
      ) : null}
      <ConnectionView
        connection={connection}
        state={{ error, loading, refetch }}
        what="billable metrics"
        noun="metrics"
        failed="the billable metrics"
        empty="No billable metrics yet."
        pager={pager}
      >
        {(nodes) => (
          <Table caption="Billable metrics">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Code</th>
                <th scope="col">Aggregation</th>
                <th scope="col">Property</th>
                <th scope="col">Recurring</th>
                <th scope="col">Filters</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((m) => (
                <tr key={m.id}>
                  <td>
                    {m.name}
                    {m.description ? <div className="muted">{m.description}</div> : null}
                  </td>
                  <td className="mono">{m.code}</td>
                  <td>{humanize(m.aggregation)}</td>
                  <td className="mono">{m.fieldName ?? "—"}</td>
                  <td>{m.recurring ? "Yes" : "No"}</td>
                  <td>{m.filters.length ? m.filters.map((f) => `${f.key}: ${f.values.join(", ")}`).join("; ") : "—"}</td>
                  <td>{formatDate(m.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </ConnectionView>
      {atLeast(role, "ADMIN") ? (
        <NewMetricForm
          onCreated={(code) => {
            setCreated(code);
            refetch();
          }}
        />
      ) : (
        <p className="muted">Administrators can define new metrics.</p>
      )}
    </>
  );
}
