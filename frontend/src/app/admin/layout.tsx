import type { Metadata } from "next";
import type { ReactNode } from "react";
import { AdminShell } from "@/components/AdminShell";

export const metadata: Metadata = { title: { default: "Admin", template: "%s · Admin · ValueVerse Billing" } };

export default function AdminLayout({ children }: { children: ReactNode }) {
  return <AdminShell>{children}</AdminShell>;
}
