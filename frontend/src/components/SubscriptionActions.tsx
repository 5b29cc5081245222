"use client";

import { useMemo, useState } from "react";
import { Field } from "@/components/Field";
import { PropertiesEditor } from "@/components/PropertiesEditor";
import { ErrorNotice, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { SubscriptionPlanChangePreviewQuery } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByPath } from "@/lib/forms";
import { formatDate, formatDateTime, formatMoney, humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useDebounced, useMutation, useQuery } from "@/lib/hooks";
import { overridePaths, overridesDraft, planOverridesInput, sentOverrideIndex, type OverridesDraft } from "@/lib/plans";

const PreviewQuery = graphql(`
  query SubscriptionPlanChangePreview($input: ChangeSubscriptionPlanInput!) {
    previewSubscriptionPlanChange(input: $input) {
      preview {
        kind
        effectiveAt
        currency
        previousPlan {
          name
        }
        newPlan {
          name
        }
        creditNotes {
          creditedInvoiceNumber
          reason
          amount
        }
        creditAmount
        chargeAmount
        invoice {
          periodStart
          periodEnd
          subtotalAmount
          taxAmount
          totalAmount
          amountDue
          lines {
            kind
            description
            periodStart
            periodEnd
            amount
          }
        }
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const ChangePlan = graphql(`
  mutation ChangeSubscriptionPlanFromPortal($input: ChangeSubscriptionPlanInput!) {
    changeSubscriptionPlan(input: $input) {
      subscription {
        externalId
        plan {
          name
        }
        nextPlan {
          name
        }
        downgradeAt
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

// What a plan change may override: the new plan's fee, commitment and charges (their prices are the starting point).
const OverridablePlan = graphql(`
  query PlanChangeOverridable($code: String!) {
    plan(code: $code) {
      code
      amount
      minimumCommitment
      currency
      charges {
        model
        billableMetric {
          code
          name
        }
        properties {
          ...ChargePropertiesFields
        }
      }
    }
  }
`);

const Terminate = graphql(`
  mutation TerminateSubscriptionFromPortal($externalId: String!) {
    terminateSubscription(input: { externalId: $externalId }) {
      subscription {
        externalId
        status
        terminatedAt
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

export type PlanChoice = { code: string; name: string; currency: string; interval: string; amount: string; payInAdvance: boolean };
type Preview = NonNullable<SubscriptionPlanChangePreviewQuery["previewSubscriptionPlanChange"]["preview"]>;
type Outcome = { text: string; tone: "error" };

function when(preview: Preview): string {
  const at = formatDate(preview.effectiveAt);
  switch (preview.kind) {
    case "UPGRADE":
      return `An upgrade (dearer per year): ${preview.newPlan.name} applies now, ${formatDateTime(preview.effectiveAt)}.`;
    case "DOWNGRADE":
      return `A downgrade: ${preview.newPlan.name} applies at the end of the current period, on ${at}. Nothing is billed or credited now.`;
    case "PLAN_REPLACED":
      return `The subscription has not started: it starts on ${preview.newPlan.name} on ${at}.`;
    case "DOWNGRADE_CANCELED":
      return `Back to ${preview.newPlan.name}: the downgrade scheduled for the period end is dropped.`;
    default:
      return humanize(preview.kind);
  }
}

function ChangePreview({ preview, id }: { preview: Preview; id: string }) {
  const money = (v: string | null | undefined) => formatMoney(v, preview.currency);
  return (
    <div className="change-preview" id={id}>
      <p>
        <strong>{when(preview)}</strong>
      </p>
      <dl className="facts">
        <div>
          <dt>Credited now</dt>
          <dd data-testid="preview-credit">{money(preview.creditAmount)}</dd>
        </div>
        <div>
          <dt>Billed now</dt>
          <dd data-testid="preview-charge">{money(preview.chargeAmount)}</dd>
        </div>
        <div>
          <dt>Takes effect</dt>
          <dd>{formatDateTime(preview.effectiveAt)}</dd>
        </div>
      </dl>
      {preview.creditNotes.length ? (
        <ul className="plain-list">
          {preview.creditNotes.map((note, k) => (
            <li key={k}>
              A credit note of {money(note.amount)} on invoice <span className="mono">{note.creditedInvoiceNumber ?? "—"}</span>: {note.reason}
            </li>
          ))}
        </ul>
      ) : null}
      {preview.invoice ? (
        <>
          <Table caption="The invoice the change issues">
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Period</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {preview.invoice.lines.map((line, k) => (
                <tr key={k}>
                  <td>{line.description}</td>
                  <td>{line.periodStart ? `${formatDate(line.periodStart)} – ${formatDate(line.periodEnd)}` : "—"}</td>
                  <td className="num">{money(line.amount)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
          <p>
            Invoice total {money(preview.invoice.totalAmount)} (tax {money(preview.invoice.taxAmount)}), due {money(preview.invoice.amountDue)}; its number is
            taken when you confirm.
          </p>
        </>
      ) : null}
    </div>
  );
}

type Props = {
  subscription: { externalId: string; name?: string | null; status: string; plan: { code: string; name: string }; nextPlan?: { name: string } | null };
  plans: PlanChoice[];
  currency: string | null | undefined;
  /** After a change or a termination, with what happened (the page shows it: this panel may be gone). */
  onChanged(done: string): void;
};

const PREVIEW_DELAY_MS = 300;

export function SubscriptionActions({ subscription, plans, currency, onChanged }: Props) {
  const [planCode, setPlanCode] = useState("");
  const [confirmingEnd, setConfirmingEnd] = useState(false);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [customizing, setCustomizing] = useState(false);
  const [drafts, setDrafts] = useState<Record<string, OverridesDraft>>({});
  const [change, changing] = useMutation(ChangePlan);
  const [terminate, terminating] = useMutation(Terminate);
  const { externalId } = subscription;
  const overridable = useQuery(OverridablePlan, { code: planCode }, { skip: !planCode || !customizing });
  const loadedPlan = overridable.data?.plan?.code === planCode ? overridable.data.plan : null;
  const fromPlan = useMemo(() => (loadedPlan ? overridesDraft(loadedPlan.charges) : null), [loadedPlan]);
  const overrides = customizing ? (drafts[planCode] ?? fromPlan) : null;
  const built = overrides ? planOverridesInput(overrides) : { input: null, incomplete: null };
  // The preview follows the overrides as they are typed, asked once the typing stops.
  const wanted = JSON.stringify({ externalId, planCode, planOverrides: built.input });
  const settled = useDebounced(wanted, PREVIEW_DELAY_MS);
  const previewed = useQuery(PreviewQuery, { input: JSON.parse(settled) }, { skip: !planCode || !!built.incomplete || (customizing && !overrides) });
  const current = wanted === settled && !built.incomplete;
  const base = `sub-${externalId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  // The current plan is a choice only while a downgrade is scheduled: choosing it drops the downgrade.
  const scheduled = !!subscription.nextPlan;
  const choices = plans.filter((p) => (scheduled || p.code !== subscription.plan.code) && (!currency || p.currency === currency));
  const chosen = plans.find((p) => p.code === planCode);
  const payload = planCode && current && !previewed.loading ? previewed.data?.previewSubscriptionPlanChange : undefined;
  const previewErrors = payload?.userErrors ?? [];
  const shown = new Set(["planCode", ...(overrides ? overridePaths(overrides) : [])]);
  const { at, general } = errorsByPath([...previewErrors, ...errors], shown);
  const preview = payload?.preview ?? null;
  const planCurrency = loadedPlan?.currency ?? chosen?.currency ?? currency ?? "";

  const setOverrides = (next: OverridesDraft) => {
    setDrafts((all) => ({ ...all, [planCode]: next }));
    setErrors([]); // what the last change said was about other prices
  };

  async function confirmChange() {
    setOutcome(null);
    try {
      const result = (await change({ input: { externalId, planCode, planOverrides: built.input } })).changeSubscriptionPlan;
      setErrors(result.userErrors);
      if (!result.userErrors.length && result.subscription) {
        const s = result.subscription;
        setPlanCode("");
        setCustomizing(false);
        setDrafts({});
        onChanged(s.nextPlan ? `${externalId} moves to ${s.nextPlan.name} on ${formatDate(s.downgradeAt)}.` : `${externalId} is now on ${s.plan.name}.`);
      }
    } catch (error) {
      setOutcome({ tone: "error", text: error instanceof ApiError ? error.message : "The plan could not be changed." });
    }
  }

  async function confirmTermination() {
    setOutcome(null);
    try {
      const result = (await terminate({ externalId })).terminateSubscription;
      if (result.userErrors.length) {
        setOutcome({ tone: "error", text: result.userErrors.map((e) => e.message).join(" ") });
      } else {
        setConfirmingEnd(false);
        onChanged(`${externalId} is ${humanize(result.subscription?.status ?? "TERMINATED").toLowerCase()}: it is billed to today.`);
      }
    } catch (error) {
      setOutcome({ tone: "error", text: error instanceof ApiError ? error.message : "The subscription could not be terminated." });
    }
  }

  const selectError = at("planCode");
  return (
    <section className="panel" aria-labelledby={`${base}-title`}>
      <h3 id={`${base}-title`} style={{ marginTop: 0 }}>
        {subscription.name ? `${subscription.name} · ` : ""}
        <span className="mono">{externalId}</span> on {subscription.plan.name}
      </h3>
      {outcome ? (
        <p className="notice error" role="alert">
          {outcome.text}
        </p>
      ) : null}
      <div className="inline-form">
        <Field id={`${base}-plan`} label="Change plan to" hint={choices.length ? "The change is previewed before you confirm it." : undefined} error={selectError}>
          <select
            id={`${base}-plan`}
            value={planCode}
            disabled={!choices.length}
            onChange={(e) => {
              setPlanCode(e.target.value);
              setErrors([]);
              setOutcome(null);
            }}
            aria-invalid={!!selectError}
            aria-describedby={describedBy(`${base}-plan`, choices.length > 0, selectError)}
          >
            <option value="">{choices.length ? "Choose a plan…" : `No other plan in ${currency ?? "this currency"}`}</option>
            {choices.map((p) => (
              <option key={p.code} value={p.code}>
                {p.name} · {formatMoney(p.amount, p.currency)} {humanize(p.interval).toLowerCase()}
                {p.payInAdvance ? " in advance" : ""}
                {p.code === subscription.plan.code ? " (stay: drop the scheduled downgrade)" : ""}
              </option>
            ))}
          </select>
        </Field>
        <button type="button" className="secondary" aria-expanded={confirmingEnd} aria-controls={`${base}-end`} onClick={() => setConfirmingEnd((c) => !c)}>
          Terminate…<span className="visually-hidden"> {externalId}</span>
        </button>
      </div>
      {confirmingEnd ? (
        <div id={`${base}-end`} className="confirm" role="group" aria-label={`Confirm terminating ${externalId}`}>
          <span>
            Terminate {externalId} now? It is billed to the end of today and what was paid in advance for the rest of the period is credited. This cannot be
            undone.
          </span>
          <button type="button" className="danger" disabled={terminating} onClick={confirmTermination}>
            {terminating ? "Terminating…" : "Terminate subscription"}
          </button>
          <button type="button" className="secondary" onClick={() => setConfirmingEnd(false)}>
            Cancel
          </button>
        </div>
      ) : null}
      {planCode ? (
        <button
          type="button"
          className="secondary"
          aria-expanded={customizing}
          aria-controls={`${base}-overrides`}
          onClick={() => {
            setCustomizing((c) => !c);
            setErrors([]);
          }}
        >
          {customizing ? "Use the plan’s prices" : "Custom prices for this subscription…"}
        </button>
      ) : null}
      {planCode && customizing ? (
        <fieldset id={`${base}-overrides`} className="overrides">
          <legend>Custom prices of {externalId} on {chosen?.name ?? planCode}</legend>
          <p className="hint muted">
            This subscription’s own prices (an enterprise deal), from the change on: a blank field keeps the plan’s. They go to the preview below and to the
            change.
          </p>
          {overridable.error ? <ErrorNotice error={overridable.error} onRetry={overridable.refetch} what="the plan’s prices" /> : null}
          {!overrides && !overridable.error ? <Loading what="the plan’s prices" /> : null}
          {overrides ? (
            <OverridesEditor
              draft={overrides}
              base={base}
              currency={planCurrency}
              planAmount={loadedPlan?.amount ?? null}
              planCommitment={loadedPlan?.minimumCommitment ?? null}
              at={at}
              onChange={setOverrides}
            />
          ) : null}
          {built.incomplete ? (
            <p className="notice info">Fill in every tier’s From and price of {built.incomplete} to see the change.</p>
          ) : null}
        </fieldset>
      ) : null}
      {planCode && previewed.error ? <ErrorNotice error={previewed.error} onRetry={previewed.refetch} what="the preview of the change" /> : null}
      {planCode && !built.incomplete && (previewed.loading || !current) ? <Loading what="the preview of the change" /> : null}
      {general.length ? (
        <div className="notice error" role="alert">
          {general.map((e) => (
            <p key={e.code + e.message}>{e.message}</p>
          ))}
        </div>
      ) : null}
      {preview ? (
        <section aria-labelledby={`${base}-preview-title`} aria-live="polite">
          <h4 id={`${base}-preview-title`}>
            Moving from {preview.previousPlan.name} to {preview.newPlan.name}
          </h4>
          {built.input ? (
            <p data-testid="preview-overrides">
              With this subscription’s own prices:{" "}
              {[
                built.input.amount ? `a fee of ${formatMoney(built.input.amount, preview.currency)} per interval` : null,
                built.input.minimumCommitment ? `a minimum commitment of ${formatMoney(built.input.minimumCommitment, preview.currency)}` : null,
                built.input.charges?.length ? `own prices for ${overrides?.charges.filter((c) => c.enabled).map((c) => c.metricName).join(", ")}` : null,
              ]
                .filter(Boolean)
                .join("; ")}
              .
            </p>
          ) : null}
          <ChangePreview preview={preview} id={`${base}-preview`} />
          <div className="actions">
            <button type="button" disabled={changing} onClick={confirmChange}>
              {changing ? "Changing…" : "Confirm plan change"}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setPlanCode("");
                setCustomizing(false);
              }}
            >
              Cancel
            </button>
          </div>
        </section>
      ) : null}
    </section>
  );
}

type OverridesProps = {
  draft: OverridesDraft;
  base: string;
  currency: string;
  planAmount: string | null;
  planCommitment: string | null;
  at(path: string): string | undefined;
  onChange(next: OverridesDraft): void;
};

/** The fee, the minimum commitment and, per charged metric, an own price edited with the plan editor's property editor. */
function OverridesEditor({ draft, base, currency, planAmount, planCommitment, at, onChange }: OverridesProps) {
  const money = (name: "amount" | "minimumCommitment", label: string, plan: string | null) => {
    const id = `${base}-override-${name}`;
    const error = at(`planOverrides.${name}`);
    const hint = plan ? `Blank: the plan’s ${formatMoney(plan, currency)}.` : "Blank: none, as on the plan.";
    return (
      <Field id={id} label={label} hint={hint} error={error}>
        <input
          id={id}
          inputMode="decimal"
          value={draft[name]}
          onChange={(e) => onChange({ ...draft, [name]: e.target.value })}
          aria-invalid={!!error}
          aria-describedby={describedBy(id, true, error)}
        />
      </Field>
    );
  };
  const chargesError = at("planOverrides.charges") ?? at("planOverrides");
  return (
    <>
      <div className="field-row">
        {money("amount", `Fee per interval (${currency})`, planAmount)}
        {money("minimumCommitment", `Minimum commitment (${currency})`, planCommitment)}
      </div>
      {chargesError ? <p className="error form-error">{chargesError}</p> : null}
      {draft.charges.map((charge, k) => {
        const id = `${base}-override-charge-${k}`;
        const sent = sentOverrideIndex(draft, k);
        const prefix = `planOverrides.charges.${sent}`;
        const metricError = sent === null ? undefined : at(`${prefix}.billableMetricCode`);
        const set = (patch: Partial<typeof charge>) => onChange({ ...draft, charges: draft.charges.map((c, j) => (j === k ? { ...c, ...patch } : c)) });
        return (
          <div key={charge.billableMetricCode} className="override-charge">
            <div className="field-inline">
              <input
                id={id}
                type="checkbox"
                checked={charge.enabled}
                onChange={(e) => set({ enabled: e.target.checked })}
                aria-invalid={!!metricError}
                aria-describedby={metricError ? `${id}-error` : undefined}
              />
              <label htmlFor={id}>Own price for {charge.metricName}</label>
            </div>
            {metricError ? (
              <p className="error form-error" id={`${id}-error`}>
                {metricError}
              </p>
            ) : null}
            {charge.enabled ? (
              <PropertiesEditor
                model={charge.model}
                draft={charge}
                base={id}
                owner={`the own price for ${charge.metricName}`}
                labelPrefix={charge.metricName}
                currency={currency}
                errorAt={(path) => at(path ? `${prefix}.properties.${path}` : `${prefix}.properties`)}
                onChange={(next) => set(next)}
              />
            ) : null}
          </div>
        );
      })}
    </>
  );
}
