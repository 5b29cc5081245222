"use client";

import { useRef, useState } from "react";

/** Copy `value` to the clipboard; where the page may not (an insecure origin, a refused permission), select the
 * field for Ctrl+C instead. Returns the field's ref, the copy action and what to tell the viewer. */
export function useCopy(value: string) {
  const field = useRef<HTMLInputElement>(null);
  const [told, setTold] = useState("");
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setTold("Copied to the clipboard.");
    } catch {
      field.current?.select();
      setTold("Selected: press Ctrl+C (⌘C) to copy it.");
    }
  }
  return { field, copy, told };
}

/** A read-only value (a URL) with a copy button. */
export function CopyField({ id, value, labelledBy, button = "Copy" }: { id: string; value: string; labelledBy: string; button?: string }) {
  const { field, copy, told } = useCopy(value);
  return (
    <div className="secret-row">
      <input ref={field} id={id} className="mono" readOnly value={value} aria-labelledby={labelledBy} onFocus={(e) => e.target.select()} />
      <button type="button" className="secondary" onClick={copy}>
        {button}
      </button>
      <span role="status" className="muted">
        {told}
      </span>
    </div>
  );
}
