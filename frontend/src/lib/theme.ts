// Light, dark, or the system's choice (prefers-color-scheme). The choice is kept in localStorage and set
// on <html data-theme> by an inline script before the first paint, so a dark page never flashes light.
export type ThemeChoice = "system" | "light" | "dark";
export const THEME_KEY = "valueverse.theme";

export const themeScript = `(function(){try{var t=localStorage.getItem("${THEME_KEY}");if(t==="light"||t==="dark")document.documentElement.dataset.theme=t}catch(e){}})()`;

export function readTheme(): ThemeChoice {
  try {
    const value = window.localStorage.getItem(THEME_KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === "system") {
    delete root.dataset.theme;
    window.localStorage.removeItem(THEME_KEY);
  } else {
    root.dataset.theme = choice;
    window.localStorage.setItem(THEME_KEY, choice);
  }
}
