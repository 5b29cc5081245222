"use client";

import { useState, type FormEvent } from "react";
import { Field, FormProblems } from "@/components/Field";
import { StatusBadge } from "@/components/StatusBadge";
import { Empty } from "@/components/States";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { ManualPaymentMethod } from "@/gql/graphql";
import type { UserError } from "@/lib/auth";
import { describedBy, errorsByField, localToIso } from "@/lib/forms";
import { formatDateTime, formatMoney, humanize, subtractDecimal } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";

const RecordPayment = graphql(`
  mutation RecordPayment($input: RecordPaymentInput!) {
    recordPayment(input: $input) {
      payment {
        id
        amount
        currency
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const RefundPayment = graphql(`
  mutation RefundPayment($input: RefundPaymentInput!) {
    refundPayment(input: $input) {
      payment {
        id
        refundedAmount
        currency
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const METHODS: { value: ManualPaymentMethod; words: string }[] = [
  { value: "WIRE", words: "Wire transfer" },
  { value: "ACH_CREDIT", words: "ACH credit" },
  { value: "CHECK", words: "Cheque" },
  { value: "CASH", words: "Cash" },
  { value: "OTHER", words: "Other" },
];

export type InvoicePaymentsData = {
  id: string;
  currency: string;
  status: string;
  amountDue: string;
  amountPaid: string;
  payments: {
    id: string;
    provider: string;
    method: string;
    status: string;
    amount: string;
    refundedAmount: string;
    currency: string;
    providerPaymentId?: string | null;
    reference?: string | null;
    createdAt: string;
  }[];
  paymentAttempts: {
    id: string;
    number: number;
    status: string;
    amount: string;
    declineCode?: string | null;
    hardDecline: boolean;
    retryable: boolean;
    failureMessage?: string | null;
    actionUrl?: string | null;
    createdAt: string;
  }[];
};

const MANUAL: Record<string, string> = Object.fromEntries(METHODS.map((m) => [m.value, m.words]));

type Done = (text: string) => void;

/** A payment received outside the providers: amount, method, reference and when it arrived. */
export function RecordPaymentForm({ invoice, onDone, onCancel }: { invoice: InvoicePaymentsData; onDone: Done; onCancel(): void }) {
  const [record, recording] = useMutation(RecordPayment);
  const outstanding = subtractDecimal(invoice.amountDue, invoice.amountPaid);
  const [amount, setAmount] = useState(outstanding.startsWith("-") || /^[0.]*$/.test(outstanding) ? "" : outstanding);
  const [method, setMethod] = useState<ManualPaymentMethod>("WIRE");
  const [reference, setReference] = useState("");
  const [paidAt, setPaidAt] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["amount", "method", "reference", "paidAt"]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const payload = (
        await record({
          input: { invoiceId: invoice.id, amount: amount.trim(), method, reference: reference.trim() || null, paidAt: localToIso(paidAt), currency: invoice.currency },
        })
      ).recordPayment;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length && payload.payment) onDone(`A payment of ${formatMoney(payload.payment.amount, payload.payment.currency)} is recorded.`);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The payment could not be recorded.");
    }
  }

  return (
    <form id="record-payment" className="panel" onSubmit={submit} aria-labelledby="record-payment-title" noValidate>
      <h2 id="record-payment-title">Record a payment</h2>
      <p className="muted">Money that arrived outside the payment providers. More than is owed becomes credit in the customer&apos;s wallet.</p>
      <FormProblems failure={failure} messages={general} />
      <Field id="payment-amount" label={`Amount (${invoice.currency})`} hint={`Still owed: ${formatMoney(outstanding, invoice.currency)}`} error={at("amount")}>
        <input
          id="payment-amount"
          inputMode="decimal"
          required
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          aria-invalid={!!at("amount")}
          aria-describedby={describedBy("payment-amount", true, at("amount"))}
        />
      </Field>
      <Field id="payment-method" label="Method" error={at("method")}>
        <select id="payment-method" value={method} onChange={(e) => setMethod(e.target.value as ManualPaymentMethod)}>
          {METHODS.map((m) => (
            <option key={m.value} value={m.value}>
              {m.words}
            </option>
          ))}
        </select>
      </Field>
      <Field id="payment-reference" label="Reference" hint="Optional: the bank's transaction reference or the cheque number." error={at("reference")}>
        <input id="payment-reference" value={reference} onChange={(e) => setReference(e.target.value)} aria-describedby={describedBy("payment-reference", true, at("reference"))} />
      </Field>
      <Field id="payment-paid-at" label="Received at" hint="In your time zone; now when left empty." error={at("paidAt")}>
        <input id="payment-paid-at" type="datetime-local" value={paidAt} onChange={(e) => setPaidAt(e.target.value)} aria-invalid={!!at("paidAt")} aria-describedby={describedBy("payment-paid-at", true, at("paidAt"))} />
      </Field>
      <div className="actions">
        <button type="submit" disabled={recording}>
          {recording ? "Recording…" : "Record payment"}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function RefundForm({ payment, onDone, onCancel }: { payment: InvoicePaymentsData["payments"][number]; onDone: Done; onCancel(): void }) {
  const [refund, refunding] = useMutation(RefundPayment);
  const left = subtractDecimal(payment.amount, payment.refundedAmount);
  const [amount, setAmount] = useState(left);
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const { at, general } = errorsByField(errors, ["amount", "reason"]);
  const id = `refund-${payment.id}`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    try {
      const payload = (await refund({ input: { paymentId: payment.id, amount: amount.trim(), reason: reason.trim() || null } })).refundPayment;
      setErrors(payload.userErrors);
      if (!payload.userErrors.length) onDone(`${formatMoney(amount.trim(), payment.currency)} of the payment is refunded.`);
    } catch (error) {
      setFailure(error instanceof ApiError ? error.message : "The refund failed.");
    }
  }

  return (
    <form className="confirm inline-form" onSubmit={submit} aria-label="Refund this payment" noValidate>
      <FormProblems failure={failure} messages={general} />
      <Field id={`${id}-amount`} label={`Refund amount (${payment.currency})`} error={at("amount")}>
        <input id={`${id}-amount`} inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} aria-invalid={!!at("amount")} aria-describedby={describedBy(`${id}-amount`, false, at("amount"))} />
      </Field>
      <Field id={`${id}-reason`} label="Reason" error={at("reason")}>
        <input id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} aria-describedby={describedBy(`${id}-reason`, false, at("reason"))} />
      </Field>
      <button type="submit" className="danger" disabled={refunding}>
        {refunding ? "Refunding…" : "Refund"}
      </button>
      <button type="button" className="secondary" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

/** Payments (with refunds) and collection attempts (with decline codes, hard or soft) of an invoice. */
export function InvoicePayments({ invoice, mayAct, onDone }: { invoice: InvoicePaymentsData; mayAct: boolean; onDone: Done }) {
  const [refunding, setRefunding] = useState<string | null>(null);
  const money = (amount: string, currency = invoice.currency) => formatMoney(amount, currency);
  return (
    <>
      <h2>Payments</h2>
      {invoice.payments.length === 0 ? (
        <Empty>No payment yet.{mayAct && invoice.status === "OPEN" ? " Collect it now or record one received by transfer." : ""}</Empty>
      ) : (
        <Table caption="Payments of this invoice">
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Provider and method</th>
              <th scope="col">Status</th>
              <th scope="col">Reference</th>
              <th scope="col" className="num">
                Amount
              </th>
              <th scope="col" className="num">
                Refunded
              </th>
              {mayAct ? <th scope="col">Action</th> : null}
            </tr>
          </thead>
          <tbody>
            {invoice.payments.map((p) => {
              const refundable = p.status === "SUCCEEDED" && !/^-|^[0.]*$/.test(subtractDecimal(p.amount, p.refundedAmount));
              return (
                <tr key={p.id}>
                  <td>{formatDateTime(p.createdAt)}</td>
                  <td>
                    {MANUAL[p.method] ? `${MANUAL[p.method]}, recorded by hand` : `${humanize(p.provider)} · ${p.method.replaceAll("_", " ")}`}
                  </td>
                  <td>
                    <StatusBadge status={p.status} />
                  </td>
                  <td className="mono">{p.reference || p.providerPaymentId || "—"}</td>
                  <td className="num">{money(p.amount, p.currency)}</td>
                  <td className="num">{money(p.refundedAmount, p.currency)}</td>
                  {mayAct ? (
                    <td>
                      {refunding === p.id ? (
                        <RefundForm
                          payment={p}
                          onCancel={() => setRefunding(null)}
                          onDone={(text) => {
                            setRefunding(null);
                            onDone(text);
                          }}
                        />
                      ) : refundable ? (
                        <button type="button" className="secondary" onClick={() => setRefunding(p.id)}>
                          Refund…<span className="visually-hidden"> the payment of {money(p.amount, p.currency)}</span>
                        </button>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  ) : null}
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}

      {invoice.paymentAttempts.length ? (
        <>
          <h2>Collection attempts</h2>
          <Table caption="Collection attempts, in order">
            <thead>
              <tr>
                <th scope="col" className="num">
                  #
                </th>
                <th scope="col">When</th>
                <th scope="col">Status</th>
                <th scope="col">Decline</th>
                <th scope="col">Message</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {invoice.paymentAttempts.map((a) => (
                <tr key={a.id}>
                  <td className="num">{a.number}</td>
                  <td>{formatDateTime(a.createdAt)}</td>
                  <td>
                    <StatusBadge status={a.status} />
                  </td>
                  <td>
                    {a.declineCode ? <span className="mono">{a.declineCode}</span> : a.status === "FAILED" && a.retryable ? "provider unreachable" : "—"}
                    {a.status === "FAILED" ? (
                      <div className="muted">{a.hardDecline ? "Hard decline: a new payment method is needed" : "Soft decline: a retry may succeed"}</div>
                    ) : null}
                  </td>
                  <td>
                    {a.failureMessage ?? "—"}
                    {a.actionUrl ? (
                      <div>
                        <a href={a.actionUrl} target="_blank" rel="noopener noreferrer">
                          Where the customer authenticates<span className="visually-hidden"> (opens in a new tab)</span>
                        </a>
                      </div>
                    ) : null}
                  </td>
                  <td className="num">{money(a.amount)}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      ) : null}
    </>
  );
}
