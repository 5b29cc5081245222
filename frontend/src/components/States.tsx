import type { ReactNode } from "react";
import type { ApiError } from "@/lib/graphql";

export function Loading({ what }: { what: string }) {
  return (
    <p className="state" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state">{children}</p>;
}

const ADVICE: Record<string, string> = {
  network: "",
  forbidden: "Your role does not allow this. Ask an administrator of your organization.",
  "not-found": "",
  unauthenticated: "Sign in again.",
  server: "",
  request: "",
};

export function ErrorNotice({ error, onRetry, what }: { error: ApiError; onRetry?: () => void; what?: string }) {
  return (
    <div className="notice error" role="alert">
      <p>
        <strong>{what ? `Could not load ${what}.` : "Something went wrong."}</strong> {error.message}
      </p>
      {ADVICE[error.kind] ? <p>{ADVICE[error.kind]}</p> : null}
      {error.requestId ? (
        <p>
          Request id: <code>{error.requestId}</code>
        </p>
      ) : null}
      {onRetry ? (
        <button type="button" className="secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
