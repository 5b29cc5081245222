"use client";

import { useState } from "react";
import { graphql } from "@/gql";
import { formatDateTime } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useMutation } from "@/lib/hooks";
import { CopyField } from "./CopyField";

const CreatePortalSession = graphql(`
  mutation CreateCustomerPortalSession($customerExternalId: String!) {
    createCustomerPortalSession(input: { customerExternalId: $customerExternalId }) {
      url
      expiresAt
      portalSession {
        id
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

const RevokePortalSession = graphql(`
  mutation RevokeCustomerPortalSession($id: ID!) {
    revokeCustomerPortalSession(input: { id: $id }) {
      portalSession {
        id
        revokedAt
      }
      userErrors {
        field
        code
        message
      }
    }
  }
`);

type Issued = { url: string; expiresAt: string; id: string };

/** A link into the customer portal for this customer: shown once with a copy button and its expiry, revocable. */
export function PortalLinkPanel({ customerExternalId }: { customerExternalId: string }) {
  const [create, creating] = useMutation(CreatePortalSession);
  const [revoke, revoking] = useMutation(RevokePortalSession);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [message, setMessage] = useState<{ tone: "success" | "error"; text: string } | null>(null);

  async function run<T>(action: () => Promise<T>, failed: string): Promise<T | null> {
    setMessage(null);
    try {
      return await action();
    } catch (error) {
      setMessage({ tone: "error", text: error instanceof ApiError ? error.message : failed });
      return null;
    }
  }

  async function issue() {
    const payload = (await run(() => create({ customerExternalId }), "The portal link could not be made."))?.createCustomerPortalSession;
    if (!payload) return;
    if (payload.userErrors.length) setMessage({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
    else if (payload.url && payload.expiresAt && payload.portalSession) setIssued({ url: payload.url, expiresAt: payload.expiresAt, id: payload.portalSession.id });
  }

  async function end() {
    if (!issued) return;
    const payload = (await run(() => revoke({ id: issued.id }), "The portal link could not be revoked."))?.revokeCustomerPortalSession;
    if (!payload) return;
    if (payload.userErrors.length) setMessage({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
    else {
      setIssued(null);
      setMessage({ tone: "success", text: "The portal link is revoked: it no longer opens, and pages open with it are refused." });
    }
  }

  return (
    <section className="panel" aria-labelledby="portal-link">
      <h2 id="portal-link">Customer portal</h2>
      <p className="muted">A link that lets this customer see its usage and invoices, pay and change its payment method, until it expires.</p>
      {issued ? (
        <div className="notice info secret" role="group" aria-labelledby="portal-link-label">
          <p>
            <strong id="portal-link-label">Portal link</strong> · expires {formatDateTime(issued.expiresAt)}
          </p>
          <p className="muted">Shown once: copy it now and send it to the customer. Anyone with the link sees this customer&apos;s account.</p>
          <CopyField id="portal-link-url" value={issued.url} labelledBy="portal-link-label" button="Copy link" />
          <button type="button" className="danger" disabled={revoking} onClick={end}>
            {revoking ? "Revoking…" : "Revoke link"}
          </button>
        </div>
      ) : (
        <button type="button" disabled={creating} onClick={issue}>
          {creating ? "Making the link…" : "Portal link"}
        </button>
      )}
      {message ? (
        <p className={`notice ${message.tone}`} role={message.tone === "error" ? "alert" : "status"}>
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
