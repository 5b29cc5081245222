import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { themeScript } from "@/lib/theme";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "ValueVerse Billing", template: "%s · ValueVerse Billing" },
  description: "Usage-based billing: admin portal, customer portal and API explorer",
  icons: { icon: "/admin/icon.svg" },
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  colorScheme: "light dark",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body>{children}</body>
    </html>
  );
}
