"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useEffect, useState, type FormEvent } from "react";
import { ChargeEditor, focusSoon } from "@/components/ChargeEditor";
import { Field, FormProblems } from "@/components/Field";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { graphql } from "@/gql";
import type { ChargeInput, PlanInterval } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { describedBy, errorsByPath } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { chargeFromPlan, chargeInput, chargePaths, incompletePart, newCharge, type ChargeDraft } from "@/lib/plans";
import { atLeast } from "@/lib/roles";

const EditorData = graphql(`
  query PlanEditorData($code: String!, $editing: Boolean!) {
    billableMetrics(first: 100) {
      nodes {
        code
        name
        aggregation
        recurring
        filters {
          key
          values
        }
      }
    }
    organization {
      defaultCurrency
    }
    plan(code: $code) @include(if: $editing) {
      code
      name
      description
      interval
      currency
      amount
      payInAdvance
      trialPeriodDays
      minimumCommitment
      archivedAt
      charges {
        model
        payInAdvance
        prorated
        minAmount
        invoiceDisplayName
        billableMetric {
          code
        }
        properties {
          ...ChargePropertiesFields
        }
        filters {
          values
          invoiceDisplayName
          properties {
            ...ChargePropertiesFields
          }
        }
      }
    }
  }

`);

const CreatePlan = graphql(`
  mutation CreatePlanFromEditor($input: CreatePlanInput!) {
    createPlan(input: $input) {
      plan {
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

const UpdatePlan = graphql(`
  mutation UpdatePlanFromEditor($input: UpdatePlanInput!) {
    updatePlan(input: $input) {
      plan {
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

const INTERVALS: PlanInterval[] = ["WEEKLY", "MONTHLY", "QUARTERLY", "YEARLY"];
const PLAN_FIELDS = ["code", "name", "description", "interval", "currency", "amount", "trialPeriodDays", "minimumCommitment"];

type PlanDraft = {
  code: string;
  name: string;
  description: string;
  interval: PlanInterval;
  currency: string;
  amount: string;
  payInAdvance: boolean;
  trialPeriodDays: string;
  minimumCommitment: string;
};

const EMPTY: PlanDraft = {
  code: "",
  name: "",
  description: "",
  interval: "MONTHLY",
  currency: "",
  amount: "0",
  payInAdvance: false,
  trialPeriodDays: "0",
  minimumCommitment: "",
};

function PlanEditor() {
  const code = useSearchParams().get("code") ?? "";
  const editing = code !== "";
  const role = useRole();
  const router = useRouter();
  const mayEdit = atLeast(role, "ADMIN");
  const { data, error, loading, refetch } = useQuery(EditorData, { code, editing }, { skip: !mayEdit });
  const [create, creating] = useMutation(CreatePlan);
  const [update, updating] = useMutation(UpdatePlan);
  const [plan, setPlan] = useState<PlanDraft>(EMPTY);
  const [charges, setCharges] = useState<ChargeDraft[]>([]);
  const [loadedFrom, setLoadedFrom] = useState<string | null>(null);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);

  // The form starts from what was loaded, once (a refetch does not overwrite what is being typed).
  useEffect(() => {
    if (!data || loadedFrom !== null) return;
    const loaded = data.plan;
    if (editing && loaded) {
      setPlan({
        code: loaded.code,
        name: loaded.name,
        description: loaded.description,
        interval: loaded.interval,
        currency: loaded.currency,
        amount: loaded.amount,
        payInAdvance: loaded.payInAdvance,
        trialPeriodDays: String(loaded.trialPeriodDays),
        minimumCommitment: loaded.minimumCommitment ?? "",
      });
      setCharges(loaded.charges.map(chargeFromPlan));
    } else if (!editing) {
      setPlan((p) => ({ ...p, currency: data.organization.defaultCurrency }));
    }
    setLoadedFrom(code);
  }, [data, editing, code, loadedFrom]);

  if (!role) return <Loading what="your role" />;
  if (!mayEdit) return <Empty>Plans are defined by administrators of your organization.</Empty>;
  if (error) return <ErrorNotice error={error} onRetry={refetch} what="the plan editor" />;
  if ((loading && !data) || loadedFrom === null) return <Loading what="the plan editor" />;
  if (editing && !data?.plan) {
    return (
      <Empty>
        There is no plan with the code <code>{code}</code>. <Link href="/admin/plans">Back to the plans</Link>
      </Empty>
    );
  }
  const metrics = data?.billableMetrics.nodes ?? [];

  const shown = new Set([...PLAN_FIELDS, ...charges.flatMap((c, i) => chargePaths(c, i))]);
  const { at, general } = errorsByPath(errors, shown);
  const set = (patch: Partial<PlanDraft>) => setPlan((p) => ({ ...p, ...patch }));
  const setCharge = (i: number, next: ChargeDraft) => {
    setCharges((all) => all.map((c, k) => (k === i ? next : c)));
    // What the API said about this charge was about what it was before.
    setErrors((all) => all.filter((e) => !(e.field?.[1] === "charges" && e.field?.[2] === String(i))));
  };
  const removeCharge = (i: number) => {
    setCharges((all) => all.filter((_, k) => k !== i));
    setErrors([]);
  };
  const saving = creating || updating;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    const inputs = charges.map(chargeInput);
    const incomplete = inputs.findIndex((c) => c === null);
    if (incomplete >= 0) {
      setFailure(`Charge ${incomplete + 1}: fill in every From and price of ${incompletePart(charges[incomplete]) ?? "its tiers"} before saving.`);
      return;
    }
    const chargeInputs = inputs as ChargeInput[];
    const trial = Number.parseInt(plan.trialPeriodDays || "0", 10);
    try {
      if (editing) {
        const payload = (
          await update({
            input: {
              code,
              name: plan.name,
              description: plan.description,
              amount: plan.amount.trim() || "0",
              trialPeriodDays: Number.isNaN(trial) ? 0 : trial,
              minimumCommitment: plan.minimumCommitment.trim() || null,
              charges: chargeInputs,
            },
          })
        ).updatePlan;
        setErrors(payload.userErrors);
        if (!payload.userErrors.length && payload.plan) router.push(`/admin/plan?code=${encodeURIComponent(payload.plan.code)}`);
      } else {
        const payload = (
          await create({
            input: {
              code: plan.code.trim(),
              name: plan.name,
              description: plan.description,
              interval: plan.interval,
              currency: plan.currency.trim(),
              amount: plan.amount.trim() || "0",
              payInAdvance: plan.payInAdvance,
              trialPeriodDays: Number.isNaN(trial) ? 0 : trial,
              minimumCommitment: plan.minimumCommitment.trim() || null,
              charges: chargeInputs,
            },
          })
        ).createPlan;
        setErrors(payload.userErrors);
        if (!payload.userErrors.length && payload.plan) router.push(`/admin/plan?code=${encodeURIComponent(payload.plan.code)}`);
      }
    } catch (caught) {
      setFailure(caught instanceof ApiError ? caught.message : "The plan could not be saved.");
    }
  }

  const text = (name: keyof PlanDraft, label: string, options: { hint?: string; decimal?: boolean; numeric?: boolean; disabled?: boolean } = {}) => {
    const id = `plan-${name}`;
    const error = at(name);
    return (
      <Field id={id} label={label} hint={options.hint} error={error}>
        <input
          id={id}
          inputMode={options.decimal ? "decimal" : options.numeric ? "numeric" : undefined}
          value={String(plan[name])}
          disabled={options.disabled}
          onChange={(e) => set({ [name]: e.target.value })}
          aria-invalid={!!error}
          aria-describedby={describedBy(id, !!options.hint, error)}
        />
      </Field>
    );
  };

  return (
    <>
      <title>{`${editing ? `Edit ${plan.name || code}` : "New plan"} · Plans · ValueVerse Billing`}</title>
      <p className="breadcrumb">
        <Link href="/admin/plans">Plans</Link> /{" "}
        {editing ? (
          <>
            <Link href={`/admin/plan?code=${encodeURIComponent(code)}`}>{data?.plan?.name ?? code}</Link> /
          </>
        ) : null}
      </p>
      <h1>{editing ? `Edit ${data?.plan?.name ?? code}` : "New plan"}</h1>
      {editing ? (
        <p className="notice info">
          Changes apply to every subscription on this plan: current usage and every invoice not issued yet use the new prices.
        </p>
      ) : null}
      <form className="plan-editor" onSubmit={submit} aria-label={editing ? "Edit the plan" : "New plan"} noValidate>
        <FormProblems failure={failure} messages={general} />
        <section className="panel" aria-labelledby="plan-fee">
          <h2 id="plan-fee">Plan and subscription fee</h2>
          <div className="field-row">
            {text("code", "Code", { hint: editing ? "The code does not change." : "What the API and subscriptions name it, e.g. growth-monthly.", disabled: editing })}
            {text("name", "Name")}
          </div>
          {text("description", "Description", { hint: "Optional." })}
          <div className="field-row">
            <Field id="plan-interval" label="Billing interval" error={at("interval")}>
              <select
                id="plan-interval"
                value={plan.interval}
                disabled={editing}
                onChange={(e) => set({ interval: e.target.value as PlanInterval })}
                aria-invalid={!!at("interval")}
                aria-describedby={describedBy("plan-interval", false, at("interval"))}
              >
                {INTERVALS.map((i) => (
                  <option key={i} value={i}>
                    {i.charAt(0) + i.slice(1).toLowerCase()}
                  </option>
                ))}
              </select>
            </Field>
            {text("currency", "Currency", { hint: "ISO 4217, e.g. USD.", disabled: editing })}
            {text("amount", "Fee per interval", { decimal: true })}
          </div>
          <div className="field-inline">
            <input id="plan-advance" type="checkbox" checked={plan.payInAdvance} disabled={editing} onChange={(e) => set({ payInAdvance: e.target.checked })} />
            <label htmlFor="plan-advance">Bill the fee in advance, at the start of each period</label>
          </div>
          <div className="field-row">
            {text("trialPeriodDays", "Trial days", { numeric: true })}
            {text("minimumCommitment", "Minimum commitment", { decimal: true, hint: "Optional: a true-up fee when fees fall short." })}
          </div>
        </section>

        <section className="panel" aria-labelledby="plan-charges">
          <h2 id="plan-charges">Usage charges</h2>
          {metrics.length === 0 ? (
            <Empty>
              There are no billable metrics yet: a charge prices one. <Link href="/admin/metrics">Billable metrics</Link>
            </Empty>
          ) : null}
          {charges.length === 0 && metrics.length > 0 ? <p className="muted">No usage charges: the plan bills its fee only.</p> : null}
          {charges.map((charge, i) => (
            <ChargeEditor
              key={charge.key}
              charge={charge}
              index={i}
              currency={plan.currency}
              metrics={metrics}
              saveErrors={errors}
              onChange={(next) => setCharge(i, next)}
              onRemove={() => removeCharge(i)}
            />
          ))}
          <button
            type="button"
            className="secondary"
            disabled={metrics.length === 0}
            onClick={() => {
              setCharges((all) => [...all, newCharge(metrics[0]?.code ?? "")]);
              focusSoon(`charge-${charges.length}-metric`);
            }}
          >
            Add a charge
          </button>
        </section>

        <div className="actions">
          <button type="submit" disabled={saving}>
            {saving ? "Saving…" : editing ? "Save changes" : "Create plan"}
          </button>
          <Link className="button secondary" href={editing ? `/admin/plan?code=${encodeURIComponent(code)}` : "/admin/plans"}>
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}

export default function PlanEditPage() {
  return (
    <Suspense fallback={<Loading what="the plan editor" />}>
      <PlanEditor />
    </Suspense>
  );
}
