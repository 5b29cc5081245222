"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Client } from "graphql-ws";
import { ThemeSelect } from "@/components/ThemeSelect";
import { graphql } from "@/gql";
import { CredentialsProvider, type AuthState } from "@/lib/auth";
import { ApiError, execute, liveClient, type LiveStatus } from "@/lib/graphql";
import { formatDateTime } from "@/lib/format";
import { PortalHome } from "./PortalHome";
import { forgetToken, takeToken } from "./token";

const PortalSessionQuery = graphql(`
  query PortalSession {
    portalSession {
      id
      customerExternalId
      organizationName
      expiresAt
      customer {
        name
      }
    }
  }
`);

export type PortalInfo = { customerExternalId: string; organizationName: string; expiresAt: string; customerName: string };

type Phase =
  | { kind: "reading" }
  | { kind: "no-link" }
  | { kind: "refused"; message: string }
  | { kind: "failed"; error: ApiError }
  | { kind: "ready"; token: string; info: PortalInfo }
  | { kind: "ended"; message: string }
  | { kind: "forgotten" };

const ASK_AGAIN = "Ask your supplier for a new portal link.";

/** The customer portal: the link's token, checked once, then the hooks of the admin portal with it. */
export function PortalApp() {
  const [phase, setPhase] = useState<Phase>({ kind: "reading" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const token = takeToken();
    if (token === null) return setPhase({ kind: "no-link" });
    if (token === "") return setPhase({ kind: "refused", message: "This address does not hold a valid portal link." });
    const controller = new AbortController();
    execute(PortalSessionQuery, {}, token, controller.signal).then(
      (data) => {
        const s = data.portalSession;
        if (!s) {
          forgetToken();
          setPhase({ kind: "refused", message: "This link is not a customer portal link." });
          return;
        }
        setPhase({
          kind: "ready",
          token,
          info: {
            customerExternalId: s.customerExternalId,
            organizationName: s.organizationName,
            expiresAt: s.expiresAt,
            customerName: s.customer.name,
          },
        });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const apiError = error instanceof ApiError ? error : new ApiError("server", "Something went wrong in the page.");
        if (apiError.kind === "unauthenticated" || apiError.kind === "forbidden") {
          forgetToken();
          setPhase({ kind: "refused", message: sentence(apiError.message) });
        } else {
          setPhase({ kind: "failed", error: apiError });
        }
      },
    );
    return () => controller.abort();
  }, [attempt]);

  const end = useCallback((message: string) => {
    forgetToken();
    setPhase({ kind: "ended", message });
  }, []);

  const forget = useCallback(() => {
    forgetToken();
    setPhase({ kind: "forgotten" });
  }, []);

  if (phase.kind === "ready") return <Portal token={phase.token} info={phase.info} onEnd={end} onForget={forget} />;
  return (
    <main id="main" className="centered portal-gate">
      <h1>Customer portal</h1>
      {phase.kind === "reading" ? <p role="status">Opening your portal link…</p> : null}
      {phase.kind === "no-link" ? (
        <>
          <p>To see your usage and invoices, open the portal link your supplier sent you.</p>
          <p>A portal link is personal and expires: if yours no longer works, ask your supplier for a new one.</p>
        </>
      ) : null}
      {phase.kind === "refused" || phase.kind === "ended" ? (
        <div className="notice error" role="alert">
          <p>
            <strong>This portal link cannot be used.</strong> {phase.message}
          </p>
          <p>{ASK_AGAIN}</p>
        </div>
      ) : null}
      {phase.kind === "forgotten" ? (
        <p className="notice info" role="status">
          This device no longer holds your portal link. To come back, open the link again (while it is valid).
        </p>
      ) : null}
      {phase.kind === "failed" ? (
        <div className="notice error" role="alert">
          <p>
            <strong>The portal could not be opened.</strong> {phase.error.message}
          </p>
          {phase.error.requestId ? (
            <p>
              Request id: <code>{phase.error.requestId}</code>
            </p>
          ) : null}
          <button type="button" className="secondary" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        </div>
      ) : null}
    </main>
  );
}

function sentence(message: string): string {
  const text = message.trim();
  return text ? text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".") : "";
}

function Portal({
  token,
  info,
  onEnd,
  onForget,
}: {
  token: string;
  info: PortalInfo;
  onEnd: (message: string) => void;
  onForget: () => void;
}) {
  const [liveStatus, setLiveStatus] = useState<LiveStatus | null>(null);
  const clientRef = useRef<Client | null>(null);

  const logout = useCallback(
    (reason?: string) => {
      void clientRef.current?.dispose();
      clientRef.current = null;
      // The hooks say "session" (the admin portal's word); here it is the link that ended.
      onEnd(reason && !/session/i.test(reason) ? reason : "It has expired or was revoked.");
    },
    [onEnd],
  );

  // The link ends at its expiry even if the page stays open.
  useEffect(() => {
    const left = new Date(info.expiresAt).getTime() - Date.now();
    const timer = window.setTimeout(() => logout("It expired."), Math.min(Math.max(left, 0), 2 ** 31 - 1));
    return () => window.clearTimeout(timer);
  }, [info.expiresAt, logout]);

  useEffect(() => {
    if (liveStatus === "refused") logout("It has expired or was revoked.");
  }, [liveStatus, logout]);

  const live = useCallback(() => {
    if (!clientRef.current) {
      const client: Client = liveClient(token, (status) => {
        if (clientRef.current === client) setLiveStatus(status);
      });
      clientRef.current = client;
    }
    return clientRef.current;
  }, [token]);

  useEffect(
    () => () => {
      void clientRef.current?.dispose();
    },
    [],
  );

  const value = useMemo<AuthState>(
    () => ({
      ready: true,
      session: { token, expiresAt: info.expiresAt, email: "", name: info.customerName, role: "VIEWER" },
      viewer: null,
      endedReason: null,
      login: async () => [],
      logout,
      live,
      liveStatus,
    }),
    [token, info, logout, live, liveStatus],
  );

  return (
    <CredentialsProvider value={value}>
      <div className="portal">
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <header className="topbar">
          <div className="brand">
            {info.organizationName}
            <small>Customer portal · {info.customerName}</small>
          </div>
          <span className="whoami">Link valid until {formatDateTime(info.expiresAt)}</span>
          <ThemeSelect />
          <button type="button" className="secondary" onClick={() => {
              void clientRef.current?.dispose();
              clientRef.current = null;
              onForget();
            }}>
            Forget this link
          </button>
        </header>
        <main id="main" className="content portal-content" tabIndex={-1}>
          <PortalHome info={info} />
        </main>
      </div>
    </CredentialsProvider>
  );
}
