import type { Role } from "@/gql/graphql";

const RANK: Record<Role, number> = { VIEWER: 0, FINANCE: 1, ADMIN: 2, OWNER: 3 };

/** The API's rule: a role may do what any weaker role may. */
export function atLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed];
}

/** What each role may do, in words (the role pickers show them). */
export const ROLE_WORDS: Record<Role, string> = {
  VIEWER: "reads everything, changes nothing",
  FINANCE: "invoices, payments, credit notes, the audit log",
  ADMIN: "also the catalogue, staff, API keys, webhooks, providers",
  OWNER: "everything, including owners",
};

/** The roles `role` may hand out: never a stronger one than its own (the API refuses those). */
export function grantable(role: Role | undefined): Role[] {
  return (["VIEWER", "FINANCE", "ADMIN", "OWNER"] as Role[]).filter((r) => role !== undefined && RANK[r] <= RANK[role]);
}

/** The weakest role the API lets do each thing the portal offers (pages and buttons follow it; the API decides). */
export const NEEDED: Record<"actOnInvoices" | "manageCustomers" | "changeSubscriptions" | "portalLinks" | "dunningQueue" | "dunningSettings" | "bankStatements" | "paymentProviders", Role> = {
  actOnInvoices: "FINANCE", // finalize, collect, void, record payments, credit notes, resend the email
  manageCustomers: "FINANCE", // create customers, edit their details, subscribe them to a plan
  changeSubscriptions: "FINANCE", // change plans, terminate
  portalLinks: "FINANCE",
  dunningQueue: "FINANCE",
  dunningSettings: "ADMIN",
  bankStatements: "FINANCE",
  paymentProviders: "ADMIN",
};

/** Whether `role` may do `what` (see NEEDED). */
export function may(role: Role | undefined, what: keyof typeof NEEDED): boolean {
  return atLeast(role, NEEDED[what]);
}
