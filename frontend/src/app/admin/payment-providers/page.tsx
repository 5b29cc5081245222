"use client";

import { useState, type FormEvent, type ReactNode } from "react";
import { CopyField } from "@/components/CopyField";
import { Field, FormProblems, TextField } from "@/components/Field";
import { Empty, ErrorNotice, Loading } from "@/components/States";
import { Table } from "@/components/Table";
import { PageHead } from "@/components/Page";
import { graphql } from "@/gql";
import type { ConfigurePaymentProviderInput, PaymentProvider } from "@/gql/graphql";
import { useAuth, useRole, type UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { formatDateTime, humanize } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { atLeast } from "@/lib/roles";

const Configure = graphql(`
  mutation ConfigurePaymentProvider($input: ConfigurePaymentProviderInput!) {
    configurePaymentProvider(input: $input) {
      provider
      mode
      last4
      userErrors {
        field
        code
        message
      }
    }
  }
`);

// No query returns a provider's configuration; the audit trail records each change (provider, mode, last 4).
const ConfiguredQuery = graphql(`
  query PaymentProviderChanges {
    auditLogs(targetType: "payment_provider_config", first: 50) {
      nodes {
        seq
        action
        after
        createdAt
      }
    }
  }
`);

type Configured = { provider: PaymentProvider; mode: string | null; last4: string | null };

const PROVIDER_NAMES: Record<PaymentProvider, string> = { STRIPE: "Stripe", PAYPAL: "PayPal", WIRE: "Wire" };

function ProviderForm({
  provider,
  title,
  intro,
  fields,
  build,
  onSaved,
  children,
}: {
  provider: PaymentProvider;
  title: string;
  intro: ReactNode;
  fields: string[];
  build(): ConfigurePaymentProviderInput;
  onSaved(result: Configured): void;
  children(at: (name: string) => string | undefined): ReactNode;
}) {
  const [configure, saving] = useMutation(Configure);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [saved, setSaved] = useState<Configured | null>(null);
  const { at, general } = errorsByField(errors, fields);
  const headingId = `provider-${provider.toLowerCase()}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    setSaved(null);
    try {
      const payload = (await configure({ input: build() })).configurePaymentProvider;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.provider) {
        const result = { provider: payload.provider, mode: payload.mode ?? null, last4: payload.last4 ?? null };
        setSaved(result);
        onSaved(result);
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The provider could not be configured.");
    }
  }

  return (
    <form className="panel" onSubmit={submit} aria-labelledby={headingId} noValidate autoComplete="off">
      <h2 id={headingId}>{title}</h2>
      {intro}
      <FormProblems failure={failure} messages={general} />
      {children(at)}
      <button type="submit" disabled={saving}>
        {saving ? "Saving…" : `Save ${PROVIDER_NAMES[provider]} settings`}
      </button>
      {saved ? (
        <p className="notice success" role="status" style={{ marginTop: "0.75rem" }}>
          {PROVIDER_NAMES[saved.provider]} is configured · mode {saved.mode ?? "—"} · ending in {saved.last4 ?? "—"}. The secrets are stored
          encrypted and are never shown again.
        </p>
      ) : null}
    </form>
  );
}

const NO_PAYPAL = { clientId: "", clientSecret: "", webhookId: "", mode: "TEST" };

export default function PaymentProvidersPage() {
  const role = useRole();
  const { viewer } = useAuth();
  const isAdmin = atLeast(role, "ADMIN");
  const { data, error, loading, refetch } = useQuery(ConfiguredQuery, {}, { skip: !isAdmin });
  const [secretKey, setSecretKey] = useState("");
  const [webhookSecret, setWebhookSecret] = useState("");
  const [wire, setWire] = useState({ accountHolder: "", bankName: "", iban: "", bic: "", accountNumber: "", routingNumber: "" });
  const setWireField = (name: keyof typeof wire) => (value: string) => setWire((w) => ({ ...w, [name]: value }));
  const [paypal, setPaypal] = useState(NO_PAYPAL);
  const setPaypalField = (name: keyof typeof paypal) => (value: string) => setPaypal((p) => ({ ...p, [name]: value }));

  // The latest change per provider, from the audit trail (newest first).
  const latest = new Map<string, { after: Configured; at: string }>();
  for (const entry of data?.auditLogs.nodes ?? []) {
    const after = entry.after as Configured | null;
    if (entry.action === "payment_provider.configured" && after?.provider && !latest.has(after.provider)) latest.set(after.provider, { after, at: entry.createdAt });
  }
  const origin = typeof window === "undefined" ? "" : window.location.origin;
  const stripeWebhookUrl = viewer ? `${origin}/webhooks/stripe/${viewer.organization.id}` : "";
  const paypalWebhookUrl = viewer ? `${origin}/webhooks/paypal/${viewer.organization.id}` : "";
  const trim = (v: string) => v.trim() || null;

  return (
    <>
      <PageHead title="Payment providers" />
      <p className="muted">How invoices are paid: cards and bank debits through Stripe, PayPal accounts, and bank transfers to your account (the details printed on invoices).</p>
      {!role ? <Loading what="your role" /> : null}
      {role && !isAdmin ? <Empty>Payment providers are configured by administrators of your organization.</Empty> : null}
      {isAdmin ? (
        <>
          <section className="panel" aria-labelledby="configured">
            <h2 id="configured">Configured now</h2>
            {error ? <ErrorNotice error={error} onRetry={refetch} what="the configured providers" /> : null}
            {loading && !data ? <Loading what="the configured providers" /> : null}
            {data && latest.size === 0 ? <Empty>No provider is configured yet.</Empty> : null}
            {latest.size > 0 ? (
              <Table caption="Configured payment providers">
                <thead>
                  <tr>
                    <th scope="col">Provider</th>
                    <th scope="col">Mode</th>
                    <th scope="col">Key or account ends in</th>
                    <th scope="col">Changed</th>
                  </tr>
                </thead>
                <tbody>
                  {[...latest.values()].map(({ after, at }) => (
                    <tr key={after.provider}>
                      <td>{PROVIDER_NAMES[after.provider] ?? humanize(after.provider)}</td>
                      <td>{after.mode ?? "—"}</td>
                      <td className="mono">{after.last4 ? `…${after.last4}` : "—"}</td>
                      <td>{formatDateTime(at)}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            ) : null}
            <p className="muted">Secrets are stored encrypted and no page or query shows them again; saving a provider again replaces its settings.</p>
          </section>

          <ProviderForm
            provider="STRIPE"
            title="Stripe"
            intro={
              <>
                <p className="muted">A secret key from the Stripe dashboard (Developers → API keys): sk_test_… for test mode, sk_live_… for live.</p>
                <p id="stripe-webhook-url-label">
                  <strong>Webhook URL</strong> to add in the Stripe dashboard (Developers → Webhooks → Add endpoint); then paste its signing secret below.
                </p>
                {stripeWebhookUrl ? <CopyField id="stripe-webhook-url" value={stripeWebhookUrl} labelledBy="stripe-webhook-url-label" button="Copy URL" /> : <Loading what="your organization" />}
              </>
            }
            fields={["secretKey", "webhookSecret"]}
            build={() => ({ provider: "STRIPE", secretKey: secretKey.trim(), webhookSecret: trim(webhookSecret) })}
            onSaved={() => {
              setSecretKey("");
              setWebhookSecret("");
              refetch();
            }}
          >
            {(at) => (
              <>
                <TextField id="stripe-secret-key" label="Secret key" type="password" value={secretKey} onChange={setSecretKey} error={at("secretKey")} hint="sk_test_… or sk_live_…" spellCheck={false} />
                <TextField id="stripe-webhook-secret" label="Webhook signing secret" type="password" value={webhookSecret} onChange={setWebhookSecret} error={at("webhookSecret")} hint="whsec_…, from the Stripe endpoint of the URL above." spellCheck={false} />
              </>
            )}
          </ProviderForm>

          <ProviderForm
            provider="PAYPAL"
            title="PayPal"
            intro={
              <>
                <p className="muted">
                  The client id and secret of a REST app (developer.paypal.com → Apps &amp; Credentials): sandbox credentials for testing, live ones to take real
                  payments. PayPal checks them before they are stored.
                </p>
                <p id="paypal-webhook-url-label">
                  <strong>Webhook URL</strong> to add to the app&apos;s webhooks; then paste the webhook&apos;s id below.
                </p>
                {paypalWebhookUrl ? <CopyField id="paypal-webhook-url" value={paypalWebhookUrl} labelledBy="paypal-webhook-url-label" button="Copy URL" /> : null}
              </>
            }
            fields={["clientId", "clientSecret", "webhookId", "mode"]}
            build={() => ({
              provider: "PAYPAL",
              clientId: paypal.clientId.trim(),
              clientSecret: paypal.clientSecret.trim(),
              webhookId: trim(paypal.webhookId),
              mode: paypal.mode,
            })}
            onSaved={() => {
              setPaypal(NO_PAYPAL);
              refetch();
            }}
          >
            {(at) => (
              <>
                <Field id="paypal-mode" label="Environment" error={at("mode")}>
                  <select id="paypal-mode" value={paypal.mode} onChange={(e) => setPaypalField("mode")(e.target.value)} aria-invalid={!!at("mode")} aria-describedby={describedBy("paypal-mode", false, at("mode"))}>
                    <option value="TEST">Sandbox (test)</option>
                    <option value="LIVE">Live</option>
                  </select>
                </Field>
                <TextField id="paypal-client-id" label="Client id" value={paypal.clientId} onChange={setPaypalField("clientId")} error={at("clientId")} spellCheck={false} />
                <TextField id="paypal-client-secret" label="Client secret" type="password" value={paypal.clientSecret} onChange={setPaypalField("clientSecret")} error={at("clientSecret")} spellCheck={false} />
                <TextField id="paypal-webhook-id" label="Webhook id" value={paypal.webhookId} onChange={setPaypalField("webhookId")} error={at("webhookId")} hint="Of the webhook PayPal sends to the URL above; without it, PayPal's notifications are refused." spellCheck={false} />
              </>
            )}
          </ProviderForm>

          <ProviderForm
            provider="WIRE"
            title="Bank transfer (wire)"
            intro={<p className="muted">The account customers pay into; invoices show it with their payment reference. Give an IBAN (and BIC), or an account and routing number.</p>}
            fields={["accountHolder", "bankName", "iban", "bic", "accountNumber", "routingNumber"]}
            build={() => ({
              provider: "WIRE",
              accountHolder: trim(wire.accountHolder),
              bankName: trim(wire.bankName),
              iban: trim(wire.iban.replaceAll(" ", "")),
              bic: trim(wire.bic),
              accountNumber: trim(wire.accountNumber),
              routingNumber: trim(wire.routingNumber),
            })}
            onSaved={() => {
              setWire({ accountHolder: "", bankName: "", iban: "", bic: "", accountNumber: "", routingNumber: "" });
              refetch();
            }}
          >
            {(at) => (
              <>
                <TextField id="wire-account-holder" label="Account holder" value={wire.accountHolder} onChange={setWireField("accountHolder")} error={at("accountHolder")} spellCheck={false} />
                <TextField id="wire-bank-name" label="Bank name" value={wire.bankName} onChange={setWireField("bankName")} error={at("bankName")} spellCheck={false} />
                <TextField id="wire-iban" label="IBAN" value={wire.iban} onChange={setWireField("iban")} error={at("iban")} spellCheck={false} />
                <TextField id="wire-bic" label="BIC (SWIFT)" value={wire.bic} onChange={setWireField("bic")} error={at("bic")} spellCheck={false} />
                <TextField id="wire-account-number" label="Account number" value={wire.accountNumber} onChange={setWireField("accountNumber")} error={at("accountNumber")} hint="Instead of an IBAN, e.g. for US accounts." spellCheck={false} />
                <TextField id="wire-routing-number" label="Routing number" value={wire.routingNumber} onChange={setWireField("routingNumber")} error={at("routingNumber")} spellCheck={false} />
              </>
            )}
          </ProviderForm>
        </>
      ) : null}
    </>
  );
}
