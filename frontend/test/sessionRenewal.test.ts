import { describe, expect, it } from "vitest";
import { renewalAt, shouldRenew } from "@/lib/sessionRenewal";

describe("keeping a staff session alive", () => {
  const issued = 1_000_000;
  const expires = issued + 15 * 60_000; // a 15-minute session

  it("is due halfway through the life the session had when it was issued", () => {
    expect(renewalAt(issued, expires)).toBe(issued + 7.5 * 60_000);
    expect(renewalAt(issued, issued - 5)).toBe(issued); // already past: due at once
  });

  it("asks only for a user who did something since the session was issued", () => {
    const due = renewalAt(issued, expires);
    expect(shouldRenew(due, issued, expires, issued + 60_000)).toBe(true);
    expect(shouldRenew(due - 1, issued, expires, issued + 60_000)).toBe(false); // not yet
    expect(shouldRenew(due, issued, expires, issued - 1)).toBe(false); // idle since: signed out at the expiry
    expect(shouldRenew(due + 60_000, issued, expires, due + 30_000)).toBe(true); // active again later: asks then
  });

  it("never asks for a session that has already expired", () => {
    expect(shouldRenew(expires, issued, expires, expires - 1)).toBe(false);
  });
});
