"use client";

import { useEffect, useState, type FormEvent } from "react";
import { Field, FormProblems, TextField } from "@/components/Field";
import { PageHead, pending } from "@/components/Page";
import { Empty } from "@/components/States";
import { graphql } from "@/gql";
import type { DunningFinalAction } from "@/gql/graphql";
import { useRole, type UserError } from "@/lib/auth";
import { durationWords, parseIntervals } from "@/lib/dunning";
import { errorsElsewhere, errorsUnder } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { may } from "@/lib/roles";

const CampaignFields = graphql(`
  fragment DunningCampaignFields on DunningCampaign {
    enabled
    retryIntervals
    maxAttempts
    reminderEmails
    finalAction
    plannedOffsets
  }
`);
void CampaignFields; // spread below; codegen adds its text to the documents that use it

const CampaignQuery = graphql(`
  query DunningCampaign {
    dunningCampaign {
      ...DunningCampaignFields
    }
  }
`);

const UpdateCampaign = graphql(`
  mutation UpdateDunningCampaign($input: UpdateDunningCampaignInput!) {
    updateDunningCampaign(input: $input) {
      dunningCampaign {
        ...DunningCampaignFields
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const FINAL_ACTIONS: { value: DunningFinalAction; words: string }[] = [
  { value: "MARK_UNCOLLECTIBLE", words: "Mark the invoice uncollectible" },
  { value: "CANCEL_SUBSCRIPTION", words: "Cancel the customer's subscriptions" },
  { value: "BOTH", words: "Both: mark uncollectible and cancel" },
  { value: "NONE", words: "Nothing: leave the invoice open" },
];

type Form = { enabled: boolean; intervals: string; maxAttempts: string; reminderEmails: boolean; finalAction: DunningFinalAction };

export default function DunningCampaignPage() {
  const role = useRole();
  const query = useQuery(CampaignQuery, {});
  const [update, saving] = useMutation(UpdateCampaign);
  const [form, setForm] = useState<Form | null>(null);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const campaign = query.data?.dunningCampaign;
  useEffect(() => {
    if (campaign)
      setForm({
        enabled: campaign.enabled,
        intervals: campaign.retryIntervals.join(", "),
        maxAttempts: String(campaign.maxAttempts),
        reminderEmails: campaign.reminderEmails,
        finalAction: campaign.finalAction,
      });
  }, [campaign]);
  const set = (change: Partial<Form>) => setForm((f) => (f ? { ...f, ...change } : f));
  const intervalErrors = errorsUnder(errors, "retryIntervals").map((e) => (e.index === null ? e.message : `Interval ${e.index + 1}: ${e.message}`));
  const attemptsError = errorsUnder(errors, "maxAttempts")[0]?.message;
  const general = errorsElsewhere(errors, [["maxAttempts"], ["retryIntervals"], ...parseIntervals(form?.intervals ?? "").map((_, i) => ["retryIntervals", String(i)])]);
  const mayEdit = may(role, "dunningSettings");

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!form) return;
    setFailure(null);
    setSaved(false);
    const attempts = Number(form.maxAttempts);
    if (!/^\d+$/.test(form.maxAttempts.trim())) {
      setErrors([{ field: ["input", "maxAttempts"], code: "INVALID", message: "A whole number of attempts, 1 to 20." }]);
      return;
    }
    try {
      const payload = (
        await update({
          input: {
            enabled: form.enabled,
            retryIntervals: parseIntervals(form.intervals),
            maxAttempts: attempts,
            reminderEmails: form.reminderEmails,
            finalAction: form.finalAction,
          },
        })
      ).updateDunningCampaign;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length) {
        setSaved(true);
        query.refetch();
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The campaign could not be saved.");
    }
  }

  const waiting = pending(query, "the dunning campaign");
  return (
    <>
      <PageHead title="Dunning campaign" section={{ href: "/admin/dunning", label: "Dunning" }} />
      {waiting}
      {campaign ? (
        <section className="panel" aria-labelledby="campaign-now">
          <h2 id="campaign-now">The schedule now</h2>
          <p>
            {campaign.enabled ? `Up to ${campaign.maxAttempts} attempts, the first charge included: ` : "Dunning is off: a failed payment is not retried. When on: "}
            {campaign.plannedOffsets.map((o, i) => (i === 0 ? "at once" : `after ${durationWords(o)}`)).join(", ")}.
          </p>
          <p className="muted">
            Then: {FINAL_ACTIONS.find((a) => a.value === campaign.finalAction)?.words.toLowerCase()}. Reminder emails {campaign.reminderEmails ? "on" : "off"}. A hard decline (a stolen card, a closed account)
            stops the retries until the customer gives a new payment method.
          </p>
        </section>
      ) : null}
      {form && !mayEdit ? <Empty>The campaign is changed by administrators of your organization.</Empty> : null}
      {form && mayEdit ? (
        <form className="panel" onSubmit={submit} aria-labelledby="campaign-form" noValidate>
          <h2 id="campaign-form">Change the campaign</h2>
          <FormProblems failure={failure} messages={general} />
          <label className="field-inline">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Retry failed payments
          </label>
          <TextField
            id="campaign-intervals"
            label="Retry intervals"
            hint="ISO 8601 durations between attempts, the last one repeating: P1D is a day, PT12H twelve hours."
            error={intervalErrors.join(" ") || undefined}
            className="mono"
            spellCheck={false}
            value={form.intervals}
            onChange={(intervals) => set({ intervals })}
          />
          <TextField id="campaign-attempts" label="Attempts in all" hint="1 to 20, the first charge included." error={attemptsError} inputMode="numeric" value={form.maxAttempts} onChange={(maxAttempts) => set({ maxAttempts })} />
          <label className="field-inline">
            <input type="checkbox" checked={form.reminderEmails} onChange={(e) => set({ reminderEmails: e.target.checked })} /> Email the customer before each retry and a final notice
          </label>
          <Field id="campaign-final" label="When the retries are spent">
            <select id="campaign-final" value={form.finalAction} onChange={(e) => set({ finalAction: e.target.value as DunningFinalAction })}>
              {FINAL_ACTIONS.map((a) => (
                <option key={a.value} value={a.value}>
                  {a.words}
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" disabled={saving}>
            {saving ? "Saving…" : "Save campaign"}
          </button>
          {saved ? (
            <p className="notice success" role="status" style={{ marginTop: "0.75rem" }}>
              The campaign is saved.
            </p>
          ) : null}
        </form>
      ) : null}
    </>
  );
}
