"use client";

import { useState } from "react";
import { Field, FormProblems } from "@/components/Field";
import { graphql } from "@/gql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";

const UpdateBillingDetails = graphql(`
  mutation UpdatePortalBillingDetails($input: UpdatePortalBillingDetailsInput!) {
    updatePortalBillingDetails(input: $input) {
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

type Details = {
  name: string;
  legalName: string;
  email: string;
  addressLine1: string;
  addressLine2: string;
  postalCode: string;
  city: string;
  state: string;
  country: string;
  taxIdentificationNumber: string;
};

type Customer = { [K in keyof Details]?: string | null } & {
  externalId: string;
  currency?: string | null;
  taxExempt: boolean;
};

const FIELDS: { name: keyof Details; label: string; hint?: string; type?: string; autoComplete?: string }[] = [
  { name: "name", label: "Name", autoComplete: "organization" },
  { name: "legalName", label: "Legal name", hint: "Printed on your invoices when it differs from the name." },
  { name: "email", label: "Billing email", hint: "Where invoices and receipts are sent.", type: "email", autoComplete: "email" },
  { name: "addressLine1", label: "Address line 1", autoComplete: "address-line1" },
  { name: "addressLine2", label: "Address line 2", autoComplete: "address-line2" },
  { name: "postalCode", label: "Postal code", autoComplete: "postal-code" },
  { name: "city", label: "City", autoComplete: "address-level2" },
  { name: "state", label: "State or region", autoComplete: "address-level1" },
  { name: "country", label: "Country", hint: "Two letters, e.g. DE for Germany.", autoComplete: "country" },
  { name: "taxIdentificationNumber", label: "Tax id", hint: "In the EU, your VAT number." },
];

function detailsOf(c: Customer): Details {
  const d = {} as Details;
  for (const f of FIELDS) d[f.name] = c[f.name] ?? "";
  return d;
}

/** The customer's billing details, which it may edit itself (not its currency, tax status or account id). */
export function BillingDetails({ customer, supplier, onSaved }: { customer: Customer; supplier: string; onSaved(): void }) {
  const [editing, setEditing] = useState(false);
  const [values, setValues] = useState<Details>(() => detailsOf(customer));
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [save, saving] = useMutation(UpdateBillingDetails);
  const { at, general } = errorsByField(errors, FIELDS.map((f) => f.name));

  async function submit() {
    setFailure(null);
    const before = detailsOf(customer);
    const input: Record<string, string | null> = {};
    for (const f of FIELDS) if (values[f.name] !== before[f.name]) input[f.name] = values[f.name].trim() || null;
    try {
      const result = (await save({ input })).updatePortalBillingDetails;
      setErrors(result.userErrors);
      if (!result.userErrors.length) {
        setEditing(false);
        setSaved(true);
        onSaved();
      }
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "Your details could not be saved.");
    }
  }

  const address = [
    customer.addressLine1,
    customer.addressLine2,
    [customer.postalCode, customer.city].filter(Boolean).join(" "),
    customer.state,
    customer.country ? countryName(customer.country) : null,
  ]
    .filter(Boolean)
    .join(", ");

  return (
    <section aria-labelledby="details-heading">
      <h2 id="details-heading">Billing details</h2>
      {saved && !editing ? (
        <p className="notice success" role="status">
          Your billing details are saved: your next invoices show them.
        </p>
      ) : null}
      {editing ? (
        <form
          className="panel"
          aria-label="Edit billing details"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <FormProblems failure={failure} messages={general} />
          <div className="field-row">
            {FIELDS.map((f) => {
              const id = `billing-${f.name}`;
              const error = at(f.name);
              return (
                <Field key={f.name} id={id} label={f.label} hint={f.hint} error={error}>
                  <input
                    id={id}
                    type={f.type ?? "text"}
                    value={values[f.name]}
                    autoComplete={f.autoComplete ?? "off"}
                    onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                    aria-invalid={!!error}
                    aria-describedby={describedBy(id, !!f.hint, error)}
                  />
                </Field>
              );
            })}
          </div>
          <div className="actions">
            <button type="submit" disabled={saving}>
              {saving ? "Saving…" : "Save billing details"}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setEditing(false);
                setErrors([]);
                setValues(detailsOf(customer));
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          <dl className="facts panel">
            <Fact term="Name" value={customer.legalName || customer.name} />
            <Fact term="Billing email" value={customer.email} />
            <Fact term="Address" value={address} />
            <Fact term="Tax id" value={customer.taxIdentificationNumber} />
            {customer.taxExempt ? <Fact term="Tax" value="Exempt" /> : null}
            <Fact term="Currency" value={customer.currency} />
            <Fact term="Account id" value={customer.externalId} />
          </dl>
          <div className="actions">
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setValues(detailsOf(customer));
                setSaved(false);
                setEditing(true);
              }}
            >
              Edit billing details
            </button>
            <span className="muted">To change your currency or tax status, write to {supplier}.</span>
          </div>
        </>
      )}
    </section>
  );
}

function Fact({ term, value }: { term: string; value: string | null | undefined }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{value || <span className="muted">Not given</span>}</dd>
    </div>
  );
}

function countryName(code: string): string {
  try {
    return new Intl.DisplayNames(undefined, { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}
