"use client";

import { useState } from "react";
import { graphql } from "@/gql";
import { formatDateTime } from "@/lib/format";
import { ApiError } from "@/lib/graphql";
import { useCursorPager, useMutation, useQuery } from "@/lib/hooks";
import { ConfirmAction } from "./ConfirmAction";
import { CopyField } from "./CopyField";
import { ConnectionView } from "./Page";
import { StatusBadge } from "./StatusBadge";
import { Table } from "./Table";

const PortalSessions = graphql(`
  query CustomerPortalSessions($customerExternalId: String!, $first: Int, $after: String) {
    customerPortalSessions(customerExternalId: $customerExternalId, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        createdAt
        createdBy
        expiresAt
        revokedAt
        active
      }
    }
  }
`);

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

function usePortalLinks(customerExternalId: string, after: string | null) {
  return useQuery(PortalSessions, { customerExternalId, first: 10, after });
}

type Issued = { url: string; expiresAt: string; id: string };
type Outcome = { tone: "success" | "error"; text: string };

const REVOKED = "The portal link is revoked: it no longer opens, and pages open with it are refused.";

/** A link's state in words: active, revoked (revokedAt), or expired (neither active nor revoked). */
function state(link: { active: boolean; revokedAt?: string | null }): "ACTIVE" | "REVOKED" | "EXPIRED" {
  if (link.active) return "ACTIVE";
  return link.revokedAt ? "REVOKED" : "EXPIRED";
}

function RevokeRow({ id, made, onDone }: { id: string; made: string; onDone(outcome: Outcome): void }) {
  const [revoke, revoking] = useMutation(RevokePortalSession);
  async function run() {
    try {
      const payload = (await revoke({ id })).revokeCustomerPortalSession;
      if (payload.userErrors.length) onDone({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
      else onDone({ tone: "success", text: REVOKED });
    } catch (error) {
      onDone({ tone: "error", text: error instanceof ApiError ? error.message : "The portal link could not be revoked." });
    }
  }
  return (
    <ConfirmAction
      id={`revoke-link-${id}`}
      label="Revoke…"
      hidden={`the link made ${made}`}
      group={`Confirm revoking the link made ${made}`}
      action="Revoke link"
      busyAction="Revoking…"
      busy={revoking}
      onConfirm={() => void run()}
    >
      Revoke this link? It stops opening at once, and pages open with it are refused.
    </ConfirmAction>
  );
}

/** The customer's portal links, newest first: when each was made and by whom, until when, its state; revoke one.
 * A revocation here reads the list again. */
function EarlierLinks({
  links,
  pager,
  onOutcome,
}: {
  links: ReturnType<typeof usePortalLinks>;
  pager: ReturnType<typeof useCursorPager>;
  onOutcome(outcome: Outcome, revokedId?: string): void;
}) {
  const { data, error, loading, refetch } = links;
  return (
    <>
      <h3>Links made so far</h3>
      <ConnectionView
        connection={data?.customerPortalSessions}
        state={{ error, loading, refetch }}
        what="the portal links"
        noun="links"
        failed="the portal links"
        empty="No portal link has been made for this customer."
        pager={pager}
      >
        {(nodes) => (
          <Table caption="Portal links, newest first">
            <thead>
              <tr>
                <th scope="col">Made</th>
                <th scope="col">By</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((link) => {
                const made = formatDateTime(link.createdAt);
                return (
                  <tr key={link.id}>
                    <td>{made}</td>
                    <td>{link.createdBy ?? <span className="muted">not recorded</span>}</td>
                    <td>{formatDateTime(link.expiresAt)}</td>
                    <td>
                      <StatusBadge status={state(link)} />
                      {link.revokedAt ? <span className="muted"> {formatDateTime(link.revokedAt)}</span> : null}
                    </td>
                    <td>
                      {link.active ? (
                        <RevokeRow
                          id={link.id}
                          made={made}
                          onDone={(outcome) => {
                            onOutcome(outcome, outcome.tone === "success" ? link.id : undefined);
                            refetch();
                          }}
                        />
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
        )}
      </ConnectionView>
    </>
  );
}

/** A link into the customer portal for this customer: shown once with a copy button and its expiry, revocable. */
export function PortalLinkPanel({ customerExternalId }: { customerExternalId: string }) {
  const [create, creating] = useMutation(CreatePortalSession);
  const [revoke, revoking] = useMutation(RevokePortalSession);
  const [issued, setIssued] = useState<Issued | null>(null);
  const [message, setMessage] = useState<Outcome | null>(null);
  const pager = useCursorPager();
  const links = usePortalLinks(customerExternalId, pager.after);

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
    else if (payload.url && payload.expiresAt && payload.portalSession) {
      setIssued({ url: payload.url, expiresAt: payload.expiresAt, id: payload.portalSession.id });
      pager.reset();
      links.refetch();
    }
  }

  async function end() {
    if (!issued) return;
    const payload = (await run(() => revoke({ id: issued.id }), "The portal link could not be revoked."))?.revokeCustomerPortalSession;
    if (!payload) return;
    if (payload.userErrors.length) setMessage({ tone: "error", text: payload.userErrors.map((e) => e.message).join(" ") });
    else {
      setIssued(null);
      setMessage({ tone: "success", text: REVOKED });
      links.refetch();
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
      <EarlierLinks
        links={links}
        pager={pager}
        onOutcome={(outcome, revokedId) => {
          setMessage(outcome);
          if (revokedId && revokedId === issued?.id) setIssued(null);
        }}
      />
    </section>
  );
}
