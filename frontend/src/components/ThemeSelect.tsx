"use client";

import { useEffect, useId, useState } from "react";
import { applyTheme, readTheme, type ThemeChoice } from "@/lib/theme";

export function ThemeSelect() {
  const id = useId();
  const [choice, setChoice] = useState<ThemeChoice>("system");
  useEffect(() => setChoice(readTheme()), []);
  return (
    <span className="field-inline" style={{ marginBottom: 0 }}>
      <label htmlFor={id} className="muted" style={{ fontWeight: 400 }}>
        Theme
      </label>
      <select
        id={id}
        value={choice}
        onChange={(event) => {
          const next = event.target.value as ThemeChoice;
          setChoice(next);
          applyTheme(next);
        }}
      >
        <option value="system">System</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </span>
  );
}
