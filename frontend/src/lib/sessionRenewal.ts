// When the admin portal asks for a staff session to live on (refreshSession): halfway through the life the session
// had when it was issued (or last renewed), and only if the user did something since. A tab left alone is signed
// out at its session's expiry, as before; one in use stays signed in up to the server's longest session life
// (SESSION_MAX_AGE_SECONDS), then the user signs in again.

/** The moment (ms) from which renewing is due: halfway from `issuedAt` to `expiresAt`. */
export function renewalAt(issuedAt: number, expiresAt: number): number {
  return issuedAt + Math.max(expiresAt - issuedAt, 0) / 2;
}

/** Whether to ask now: due, not yet expired, and the user was active after the session was issued or renewed. */
export function shouldRenew(now: number, issuedAt: number, expiresAt: number, lastActivity: number): boolean {
  return now >= renewalAt(issuedAt, expiresAt) && now < expiresAt && lastActivity > issuedAt;
}
