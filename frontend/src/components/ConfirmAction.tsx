"use client";

import { useState, type ReactNode } from "react";

/** A button that opens a confirmation (a labelled group with the question, the danger action and Cancel) before an
 * action that cannot be taken back. `hidden` completes the button's name for screen readers ("… of ann@x.com"). */
export function ConfirmAction({
  id,
  label,
  hidden,
  group,
  children,
  action,
  busyAction,
  busy,
  onConfirm,
}: {
  id: string;
  label: string;
  hidden?: string;
  group: string;
  children: ReactNode;
  action: string;
  busyAction: string;
  busy: boolean;
  onConfirm(): void;
}) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="secondary" aria-expanded={open} aria-controls={id} onClick={() => setOpen((o) => !o)}>
        {label}
        {hidden ? <span className="visually-hidden"> {hidden}</span> : null}
      </button>
      {open ? (
        <div id={id} className="confirm" role="group" aria-label={group}>
          <span>{children}</span>
          <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
            {busy ? busyAction : action}
          </button>
          <button type="button" className="secondary" onClick={() => setOpen(false)}>
            Cancel
          </button>
        </div>
      ) : null}
    </>
  );
}
