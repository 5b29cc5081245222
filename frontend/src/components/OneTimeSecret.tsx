"use client";

import { useRef, useState } from "react";

/** A secret the API returns once (an API key, a webhook signing secret): shown with a copy button and a warning. */
export function OneTimeSecret({ label, secret, onDismiss }: { label: string; secret: string; onDismiss(): void }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const id = `secret-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;

  async function copy() {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      // No clipboard access (an insecure origin, a refused permission): select it for Ctrl+C instead.
      field.current?.select();
      setCopied("Selected: press Ctrl+C (⌘C) to copy it.");
    }
  }

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
        {copied ?? ""}
      </p>
    </div>
  );
}
