"use client";

import { useState } from "react";
import { Field, FormProblems } from "@/components/Field";
import { graphql } from "@/gql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByField } from "@/lib/forms";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";

const CreateCustomer = graphql(`
  mutation CreateCustomerFromAdmin($input: CreateCustomerInput!) {
    createCustomer(input: $input) {
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

const UpdateCustomer = graphql(`
  mutation UpdateCustomerFromAdmin($input: UpdateCustomerInput!) {
    updateCustomer(input: $input) {
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

/** The customer's fields as the form edits them: text, "" for none. */
export type CustomerValues = {
  externalId: string;
  name: string;
  legalName: string;
  email: string;
  currency: string;
  country: string;
  timezone: string;
  addressLine1: string;
  addressLine2: string;
  postalCode: string;
  city: string;
  state: string;
  taxIdentificationNumber: string;
};

type Editable = Exclude<keyof CustomerValues, "externalId">;

const FIELDS: { name: Editable; label: string; hint?: string; type?: string; autoComplete?: string }[] = [
  { name: "name", label: "Name", autoComplete: "organization" },
  { name: "legalName", label: "Legal name", hint: "Printed on invoices when it differs from the name." },
  { name: "email", label: "Billing email", type: "email", autoComplete: "email" },
  { name: "currency", label: "Currency", hint: "ISO 4217, e.g. EUR; left empty, the first subscription sets it." },
  { name: "country", label: "Country", hint: "ISO 3166 alpha-2, e.g. DE.", autoComplete: "country" },
  { name: "timezone", label: "Time zone", hint: "IANA name, e.g. Europe/Berlin; left empty: the organization's." },
  { name: "addressLine1", label: "Address line 1", autoComplete: "address-line1" },
  { name: "addressLine2", label: "Address line 2", autoComplete: "address-line2" },
  { name: "postalCode", label: "Postal code", autoComplete: "postal-code" },
  { name: "city", label: "City", autoComplete: "address-level2" },
  { name: "state", label: "State or region", autoComplete: "address-level1" },
  { name: "taxIdentificationNumber", label: "Tax id", hint: "An EU customer's VAT number is checked." },
];

export const EMPTY_CUSTOMER: CustomerValues = {
  externalId: "",
  name: "",
  legalName: "",
  email: "",
  currency: "",
  country: "",
  timezone: "",
  addressLine1: "",
  addressLine2: "",
  postalCode: "",
  city: "",
  state: "",
  taxIdentificationNumber: "",
};

/** A stored customer as form values (null → ""). */
export function customerValues(c: { [K in keyof CustomerValues]?: string | null }): CustomerValues {
  const values = { ...EMPTY_CUSTOMER };
  for (const key of Object.keys(values) as (keyof CustomerValues)[]) values[key] = c[key] ?? "";
  return values;
}

type Props = {
  /** Given: edit this customer (its external id is fixed); left out: create one. */
  initial?: CustomerValues;
  /** After a save, with the customer's external id. */
  onSaved(externalId: string): void;
  onCancel(): void;
};

/** Create a customer, or edit one's details; the API's userErrors show on their fields. */
export function CustomerForm({ initial, onSaved, onCancel }: Props) {
  const editing = initial !== undefined;
  const [values, setValues] = useState<CustomerValues>(initial ?? EMPTY_CUSTOMER);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [create, creating] = useMutation(CreateCustomer);
  const [update, updating] = useMutation(UpdateCustomer);
  const base = editing ? "edit-customer" : "new-customer";
  const { at, general } = errorsByField(errors, ["externalId", ...FIELDS.map((f) => f.name)]);

  async function submit() {
    setFailure(null);
    try {
      let result;
      if (editing) {
        // Only what changed is sent: an untouched field stays as it is (and an emptied one is cleared).
        const input: Record<string, string | null> = { externalId: initial.externalId };
        for (const f of FIELDS) if (values[f.name] !== initial[f.name]) input[f.name] = values[f.name].trim() || null;
        result = (await update({ input: input as never })).updateCustomer;
      } else {
        const input: Record<string, string> = {};
        for (const [key, value] of Object.entries(values)) if (value.trim()) input[key] = value.trim();
        result = (await create({ input: input as never })).createCustomer;
      }
      setErrors(result.userErrors);
      if (!result.userErrors.length && result.customer) onSaved(result.customer.externalId);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The customer could not be saved.");
    }
  }

  const control = (name: keyof CustomerValues, type = "text", autoComplete?: string, hint?: string) => {
    const id = `${base}-${name}`;
    const error = at(name);
    return (
      <input
        id={id}
        type={type}
        value={values[name]}
        autoComplete={autoComplete ?? "off"}
        onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}
        aria-invalid={!!error}
        aria-describedby={describedBy(id, !!hint, error)}
        required={name === "externalId"}
      />
    );
  };

  return (
    <form
      className="panel"
      aria-labelledby={`${base}-title`}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id={`${base}-title`} style={{ marginTop: 0 }}>
        {editing ? "Edit details" : "New customer"}
      </h2>
      <FormProblems failure={failure} messages={general} />
      <div className="field-row">
        {editing ? null : (
          <Field id={`${base}-externalId`} label="External id" hint="Your own id for the customer: usage events name it." error={at("externalId")}>
            {control("externalId", "text", "off", "hint")}
          </Field>
        )}
        {FIELDS.map((f) => (
          <Field key={f.name} id={`${base}-${f.name}`} label={f.label} hint={f.hint} error={at(f.name)}>
            {control(f.name, f.type, f.autoComplete, f.hint)}
          </Field>
        ))}
      </div>
      <div className="actions">
        <button type="submit" disabled={creating || updating}>
          {editing ? (updating ? "Saving…" : "Save details") : creating ? "Creating…" : "Create customer"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
