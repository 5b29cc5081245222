import type { InputHTMLAttributes, ReactNode } from "react";
import { describedBy } from "@/lib/forms";

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

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange">;

/** A text input in a Field: its hint and the API's error are wired to it (aria-invalid, aria-describedby). */
export function TextField({ id, label, hint, error, value, onChange, ...input }: { id: string; label: string; hint?: string; error?: string; value: string; onChange(value: string): void } & InputProps) {
  return (
    <Field id={id} label={label} hint={hint} error={error}>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={!!error} aria-describedby={describedBy(id, !!hint, error)} {...input} />
    </Field>
  );
}
