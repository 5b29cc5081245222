"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import type { Role } from "@/gql/graphql";
import { AuthProvider, useAuth, useRole } from "@/lib/auth";
import { humanize } from "@/lib/format";
import { atLeast, NEEDED } from "@/lib/roles";
import { ThemeSelect } from "./ThemeSelect";

type NavItem = { href: string; label: string; needs: Role; sections: string[]; external?: boolean };

// What each role may open (the API enforces the same rules; hiding is a courtesy).
export const NAV: NavItem[] = [
  { href: "/admin", label: "Overview", needs: "VIEWER", sections: ["/admin"] },
  { href: "/admin/customers", label: "Customers", needs: "VIEWER", sections: ["/admin/customers", "/admin/customer"] },
  { href: "/admin/invoices", label: "Invoices", needs: "VIEWER", sections: ["/admin/invoices", "/admin/invoice"] },
  { href: "/admin/plans", label: "Plans", needs: "VIEWER", sections: ["/admin/plans", "/admin/plan", "/admin/plan-edit"] },
  { href: "/admin/metrics", label: "Billable metrics", needs: "VIEWER", sections: ["/admin/metrics"] },
  { href: "/admin/revenue", label: "Revenue", needs: "FINANCE", sections: ["/admin/revenue"] },
  { href: "/admin/dunning", label: "Dunning", needs: NEEDED.dunningQueue, sections: ["/admin/dunning", "/admin/dunning-campaign"] },
  { href: "/admin/bank-statements", label: "Bank statements", needs: NEEDED.bankStatements, sections: ["/admin/bank-statements"] },
  { href: "/admin/audit", label: "Audit log", needs: "FINANCE", sections: ["/admin/audit"] },
  { href: "/admin/webhooks", label: "Webhooks", needs: "ADMIN", sections: ["/admin/webhooks", "/admin/webhook"] },
  { href: "/admin/payment-providers", label: "Payment providers", needs: NEEDED.paymentProviders, sections: ["/admin/payment-providers"] },
  { href: "/admin/api-keys", label: "API keys", needs: "ADMIN", sections: ["/admin/api-keys"] },
  { href: "/admin/staff", label: "Staff users", needs: "ADMIN", sections: ["/admin/staff"] },
  { href: "/admin/security", label: "Security", needs: "VIEWER", sections: ["/admin/security"] },
  { href: "/graphql", label: "GraphiQL", needs: "VIEWER", sections: [], external: true },
];

export function AdminShell({ children }: { children: ReactNode }) {
  return (
    <AuthProvider>
      <Guard>{children}</Guard>
    </AuthProvider>
  );
}

function Guard({ children }: { children: ReactNode }) {
  const pathname = usePathname().replace(/\/$/, "") || "/admin";
  const router = useRouter();
  const { ready, session } = useAuth();
  const onLogin = pathname === "/admin/login";

  useEffect(() => {
    if (ready && !session && !onLogin) {
      const next = window.location.pathname + window.location.search;
      router.replace(`/admin/login?next=${encodeURIComponent(next)}`);
    }
  }, [ready, session, onLogin, router]);

  if (onLogin) return <>{children}</>;
  if (!ready || !session) {
    return (
      <main id="main" className="centered">
        <p role="status">{ready ? "Taking you to the sign-in page…" : "Loading…"}</p>
      </main>
    );
  }
  return <Chrome pathname={pathname}>{children}</Chrome>;
}

function Chrome({ pathname, children }: { pathname: string; children: ReactNode }) {
  const { session, viewer, logout } = useAuth();
  const role = useRole();
  const current = NAV.filter((item) => item.sections.includes(pathname))[0];
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/admin" className="brand">
          ValueVerse Billing
          <small>{viewer?.organization.name ?? "Admin portal"}</small>
        </Link>
        <span className="whoami">
          {session?.email}
          {role ? (
            <>
              {" · "}
              <span className="badge info" title="Your role">
                {humanize(role)}
              </span>
            </>
          ) : null}
        </span>
        <ThemeSelect />
        {/* The guard then sends the signed-out page to the sign-in form (and back here after a new sign-in). */}
        <button type="button" className="secondary" onClick={() => logout()}>
          Log out
        </button>
      </header>
      <nav className="nav" aria-label="Admin sections">
        <ul>
          {NAV.filter((item) => atLeast(role, item.needs)).map((item) => (
            <li key={item.href}>
              {item.external ? (
                <a href={item.href}>{item.label}</a>
              ) : (
                <Link href={item.href} aria-current={item === current ? "page" : undefined}>
                  {item.label}
                </Link>
              )}
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
