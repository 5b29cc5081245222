"use client";

import { useEffect, useRef, useState } from "react";
import { Empty } from "@/components/States";
import { graphql } from "@/gql";
import type { PaymentProvider } from "@/gql/graphql";
import { humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";

const SetupProviders = graphql(`
  query PortalPaymentSetupProviders {
    portalSession {
      id
      paymentSetupProviders
    }
  }
`);

const CreateSetup = graphql(`
  mutation PortalCreatePaymentSetup($input: PaymentSetupSessionInput!) {
    createPaymentSetupSession(input: $input) {
      url
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const CompleteSetup = graphql(`
  mutation PortalCompletePaymentSetup($input: CompletePaymentSetupSessionInput!) {
    completePaymentSetupSession(input: $input) {
      customer {
        externalId
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

export type Method = {
  id: string;
  provider: string;
  kind: string;
  brand?: string | null;
  last4?: string | null;
  expiresAt?: string | null;
  isDefault: boolean;
};

// The provider sends the customer back to this page with `setup=<provider>` and its own reference added.
const RETURN_PATH = "/portal/session";
const PROVIDER_WORDS: Record<string, string> = { STRIPE: "Add a card or bank account", PAYPAL: "Add a PayPal account" };

function methodText(m: Method): string {
  return `${m.brand ? humanize(m.brand) : humanize(m.kind)}${m.last4 ? ` ending in ${m.last4}` : ""}${m.expiresAt ? `, expires ${m.expiresAt}` : ""}`;
}

/** What the address the provider sent the customer back to says: the provider and its reference (or a cancel). */
function returned(): { provider: PaymentProvider; reference: string | null } | null {
  const query = new URLSearchParams(window.location.search);
  const provider = query.get("setup");
  if (provider !== "STRIPE" && provider !== "PAYPAL") return null;
  const reference = query.get("canceled") ? null : query.get(provider === "STRIPE" ? "session_id" : "approval_token_id");
  return { provider, reference };
}

function forgetReturn() {
  window.history.replaceState(window.history.state, "", window.location.pathname);
}

/** Saved payment methods, the default first; a button sends the customer to the provider's own page to add one. */
export function PaymentMethods({
  customerExternalId,
  supplier,
  methods,
  onSaved,
}: {
  customerExternalId: string;
  supplier: string;
  methods: Method[];
  onSaved(): void;
}) {
  const providers = useQuery(SetupProviders, {});
  const [create, creating] = useMutation(CreateSetup);
  const [complete, completing] = useMutation(CompleteSetup);
  const [outcome, setOutcome] = useState<{ text: string; ok: boolean } | null>(null);
  const finished = useRef(false);
  const fallback = methods.find((m) => m.isDefault);

  // Back from the provider's page: save what the customer saved there (once), then tidy the address.
  useEffect(() => {
    if (finished.current) return;
    finished.current = true;
    const back = returned();
    if (!back) return;
    forgetReturn();
    if (!back.reference) {
      setOutcome({ text: "Nothing was saved: the provider's page was left without adding a payment method.", ok: false });
      return;
    }
    complete({ input: { customerExternalId, provider: back.provider, sessionId: back.reference, makeDefault: true } }).then(
      (data) => {
        const errors = data.completePaymentSetupSession.userErrors;
        if (errors.length) setOutcome({ text: errors.map((e) => e.message).join(" "), ok: false });
        else setOutcome({ text: "Your payment method is saved and is now the default for your invoices.", ok: true });
        onSaved();
      },
      (error: unknown) => setOutcome({ text: error instanceof ApiError ? error.message : "The payment method could not be saved.", ok: false }),
    );
  }, [complete, customerExternalId, onSaved]);

  async function start(provider: PaymentProvider) {
    setOutcome(null);
    const origin = window.location.origin;
    try {
      const payload = (
        await create({
          input: {
            customerExternalId,
            provider,
            returnUrl: `${origin}${RETURN_PATH}?setup=${provider}`,
            cancelUrl: `${origin}${RETURN_PATH}?setup=${provider}&canceled=1`,
          },
        })
      ).createPaymentSetupSession;
      if (payload.userErrors.length || !payload.url) {
        setOutcome({ text: payload.userErrors.map((e) => e.message).join(" ") || "The provider's page could not be opened.", ok: false });
        return;
      }
      window.location.assign(payload.url); // the provider's own page: no card field is ours
    } catch (error) {
      setOutcome({ text: error instanceof ApiError ? error.message : "The provider's page could not be opened.", ok: false });
    }
  }

  const available = providers.data?.portalSession?.paymentSetupProviders ?? [];
  return (
    <section aria-labelledby="methods-heading">
      <h2 id="methods-heading">Payment methods</h2>
      {outcome ? (
        <p className={`notice ${outcome.ok ? "success" : "error"}`} role={outcome.ok ? "status" : "alert"}>
          {outcome.text}
        </p>
      ) : null}
      {completing ? <p role="status">Saving your payment method…</p> : null}
      {fallback ? (
        <p data-testid="default-payment-method">
          Invoices are charged to your default method: <strong>{methodText(fallback)}</strong>{" "}
          <span className="muted">({humanize(fallback.provider)})</span>
        </p>
      ) : null}
      {methods.length === 0 ? (
        <Empty>
          No payment method is saved.{" "}
          {available.length
            ? "Add one below to have invoices charged automatically; "
            : `To pay by card or bank debit, ask ${supplier} to add one; `}
          invoices can also be paid by bank transfer with the reference printed on them.
        </Empty>
      ) : (
        <ul className="plain-list">
          {methods.map((m) => (
            <li key={m.id}>
              <strong>{methodText(m)}</strong> <span className="muted">({humanize(m.provider)})</span>
              {m.isDefault ? (
                <>
                  {" "}
                  <span className="badge ok">Default</span>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {available.length ? (
        <div className="actions">
          {available.map((p) => (
            <button key={p} type="button" disabled={creating} onClick={() => void start(p)}>
              {creating ? "Opening…" : PROVIDER_WORDS[p] ?? `Add a payment method (${humanize(p)})`}
            </button>
          ))}
          <span className="muted">You enter the details on {available.map((p) => humanize(p)).join(" or ")}&apos;s secure page, not here.</span>
        </div>
      ) : null}
    </section>
  );
}
