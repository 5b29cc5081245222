// The portal link's token: taken from the address's fragment (#vvp_…, never sent to a server), then kept in
// this tab's sessionStorage (a reload works; closing the tab forgets it) and removed from the address bar, so
// it is not left in the history, a bookmark or a shared screenshot.
const STORAGE_KEY = "valueverse.portal.token";
const TOKEN = /^vvp_[A-Za-z0-9_-]{20,100}$/;

export function takeToken(): string | null {
  const fragment = window.location.hash.replace(/^#/, "");
  if (fragment) {
    window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
    if (TOKEN.test(fragment)) {
      window.sessionStorage.setItem(STORAGE_KEY, fragment);
      return fragment;
    }
    forgetToken();
    return "";
  }
  return window.sessionStorage.getItem(STORAGE_KEY);
}

export function forgetToken(): void {
  window.sessionStorage.removeItem(STORAGE_KEY);
}
