import { describe, expect, it } from "vitest";
import { NAV } from "@/components/AdminShell";
import { atLeast, grantable, may, NEEDED } from "@/lib/roles";

describe("roles", () => {
  it("lets a role do what any weaker role may", () => {
    expect(atLeast("ADMIN", "FINANCE")).toBe(true);
    expect(atLeast("VIEWER", "FINANCE")).toBe(false);
    expect(atLeast(undefined, "VIEWER")).toBe(false);
  });

  it("never hands out a stronger role than one's own", () => {
    expect(grantable("ADMIN")).toEqual(["VIEWER", "FINANCE", "ADMIN"]);
    expect(grantable(undefined)).toEqual([]);
  });

  it("gives finance the money work and administrators the settings", () => {
    expect(may("FINANCE", "actOnInvoices") && may("FINANCE", "portalLinks") && may("FINANCE", "bankStatements")).toBe(true);
    expect(may("VIEWER", "dunningQueue") || may("VIEWER", "portalLinks")).toBe(false);
    expect(may("FINANCE", "dunningSettings") || may("FINANCE", "paymentProviders")).toBe(false);
    expect(may("ADMIN", "dunningSettings")).toBe(true);
  });
});

describe("the navigation", () => {
  const shown = (role: "VIEWER" | "FINANCE" | "ADMIN") => NAV.filter((item) => atLeast(role, item.needs)).map((item) => item.label);

  it("shows the new pages only to roles that may use them", () => {
    expect(shown("VIEWER")).not.toContain("Dunning");
    expect(shown("VIEWER")).not.toContain("Bank statements");
    expect(shown("FINANCE")).toEqual(expect.arrayContaining(["Dunning", "Bank statements"]));
    expect(shown("FINANCE")).not.toContain("Payment providers");
    expect(shown("ADMIN")).toContain("Payment providers");
  });

  it("follows NEEDED", () => {
    expect(NAV.find((item) => item.href === "/admin/dunning")?.needs).toBe(NEEDED.dunningQueue);
  });
});
