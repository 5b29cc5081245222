import type { Role } from "@/gql/graphql";

const RANK: Record<Role, number> = { VIEWER: 0, FINANCE: 1, ADMIN: 2, OWNER: 3 };

/** The API's rule: a role may do what any weaker role may. */
export function atLeast(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[needed];
}
