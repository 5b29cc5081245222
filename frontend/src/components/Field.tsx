import type { ReactNode } from "react";

/** A labelled control with an optional hint and the API's error for it (the control carries the ids). */
export function Field({ id, label, hint, error, children }: { id: string; label: string; hint?: string; error?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {children}
      {error ? (
        <span className="error" id={`${id}-error`}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function FormProblems({ failure, messages }: { failure: string | null; messages: { code: string; message: string }[] }) {
  if (!failure && !messages.length) return null;
  return (
    <div className="notice error" role="alert">
      {failure ? <p>{failure}</p> : null}
      {messages.map((e) => (
        <p key={e.code + e.message}>{e.message}</p>
      ))}
    </div>
  );
}
