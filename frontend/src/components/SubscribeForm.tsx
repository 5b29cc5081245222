"use client";

import { useState } from "react";
import { Field, FormProblems } from "@/components/Field";
import type { PlanChoice } from "@/components/SubscriptionActions";
import { graphql } from "@/gql";
import type { BillingTime } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { formatMoney, humanize } from "@/lib/format";
import { describedBy, errorsByField, localToIso } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";

const Subscribe = graphql(`
  mutation CreateSubscriptionFromAdmin($input: CreateSubscriptionInput!) {
    createSubscription(input: $input) {
      subscription {
        externalId
        plan {
          name
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

type Props = {
  customerExternalId: string;
  /** The plans one may subscribe to (not archived). */
  plans: PlanChoice[];
  /** The customer's currency: only plans in it are offered (none yet: any plan, which sets it). */
  currency: string | null | undefined;
  /** How many subscriptions the customer has: the default external id is the next one. */
  existing: number;
  onSubscribed(done: string): void;
  onCancel(): void;
};

const BASE = "subscribe";

/** Subscribe the customer to a plan: its external id defaulted, now or a chosen start, calendar or anniversary. */
export function SubscribeForm({ customerExternalId, plans, currency, existing, onSubscribed, onCancel }: Props) {
  const choices = plans.filter((p) => !currency || p.currency === currency);
  const [planCode, setPlanCode] = useState(choices[0]?.code ?? "");
  const [externalId, setExternalId] = useState(`${customerExternalId}-sub-${existing + 1}`);
  const [startedAt, setStartedAt] = useState("");
  const [billingTime, setBillingTime] = useState<BillingTime>("CALENDAR" as BillingTime);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [subscribe, subscribing] = useMutation(Subscribe);
  const { at, general } = errorsByField(errors, ["planCode", "externalId", "startedAt", "billingTime"]);

  async function submit() {
    setFailure(null);
    try {
      const result = (
        await subscribe({
          input: {
            customerExternalId,
            planCode,
            externalId: externalId.trim() || null,
            startedAt: localToIso(startedAt),
            billingTime,
          },
        })
      ).createSubscription;
      setErrors(result.userErrors);
      if (!result.userErrors.length && result.subscription) {
        onSubscribed(`${result.subscription.externalId} is subscribed to ${result.subscription.plan.name}.`);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The subscription could not be created.");
    }
  }

  const hints = {
    planCode: choices.length ? undefined : `No plan in ${currency}: create one first.`,
    externalId: "Usage events may name it; keep the proposed one or give your own.",
    startedAt: "Left empty: now. Your time zone; may be in the past or the future.",
    billingTime: "Calendar: periods follow the calendar, the first one prorated. Anniversary: periods start on the start date.",
  };
  const control = <T extends keyof typeof hints>(name: T) => ({
    id: `${BASE}-${name}`,
    "aria-invalid": !!at(name),
    "aria-describedby": describedBy(`${BASE}-${name}`, !!hints[name], at(name)),
  });

  return (
    <form
      className="panel"
      aria-labelledby={`${BASE}-title`}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id={`${BASE}-title`} style={{ marginTop: 0 }}>
        Subscribe to a plan
      </h2>
      <FormProblems failure={failure} messages={general} />
      <div className="field-row">
        <Field id={`${BASE}-planCode`} label="Plan" hint={hints.planCode} error={at("planCode")}>
          <select {...control("planCode")} value={planCode} onChange={(e) => setPlanCode(e.target.value)} disabled={!choices.length}>
            {choices.map((p) => (
              <option key={p.code} value={p.code}>
                {p.name} · {formatMoney(p.amount, p.currency)} {humanize(p.interval).toLowerCase()}
                {p.payInAdvance ? " in advance" : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field id={`${BASE}-externalId`} label="Subscription external id" hint={hints.externalId} error={at("externalId")}>
          <input {...control("externalId")} value={externalId} autoComplete="off" onChange={(e) => setExternalId(e.target.value)} />
        </Field>
        <Field id={`${BASE}-startedAt`} label="Start" hint={hints.startedAt} error={at("startedAt")}>
          <input {...control("startedAt")} type="datetime-local" value={startedAt} onChange={(e) => setStartedAt(e.target.value)} />
        </Field>
        <Field id={`${BASE}-billingTime`} label="Billing time" hint={hints.billingTime} error={at("billingTime")}>
          <select {...control("billingTime")} value={billingTime} onChange={(e) => setBillingTime(e.target.value as BillingTime)}>
            <option value="CALENDAR">Calendar</option>
            <option value="ANNIVERSARY">Anniversary</option>
          </select>
        </Field>
      </div>
      <div className="actions">
        <button type="submit" disabled={subscribing || !planCode}>
          {subscribing ? "Subscribing…" : "Subscribe"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
