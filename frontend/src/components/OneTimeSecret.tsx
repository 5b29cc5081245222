"use client";

import { useCopy } from "./CopyField";

/** A secret the API returns once (an API key, a webhook signing secret): shown with a copy button and a warning. */
export function OneTimeSecret({ label, secret, onDismiss }: { label: string; secret: string; onDismiss(): void }) {
  const { field, copy, told } = useCopy(secret);
  const id = `secret-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;

  return (
    <div className="notice info secret" role="group" aria-labelledby={`${id}-label`}>
      <p>
        <strong id={`${id}-label`}>{label}</strong>
      </p>
      <p id={`${id}-warning`}>
        Copy it now and keep it somewhere safe: <strong>you won&apos;t see it again</strong>. It is stored only in a form
        that cannot be read back.
      </p>
      <div className="secret-row">
        <input
          ref={field}
          id={id}
          className="mono"
          readOnly
          value={secret}
          aria-labelledby={`${id}-label`}
          aria-describedby={`${id}-warning`}
          data-testid="one-time-secret"
          onFocus={(e) => e.target.select()}
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
        <button type="button" className="secondary" onClick={onDismiss}>
          I have stored it
        </button>
      </div>
      <p role="status" className="muted">
        {told}
      </p>
    </div>
  );
}
