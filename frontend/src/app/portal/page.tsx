import type { Metadata } from "next";
import { PortalApp } from "./PortalApp";

export const metadata: Metadata = { title: "Customer portal" };

// Customers enter through a portal link that their supplier gives them (PUBLIC_URL/portal/session#<token>);
// every /portal/… address that is not a page of its own is answered with this page by the server, and the
// token, in the fragment, is read here in the browser: it never reaches a server or its logs.
export default function PortalPage() {
  return <PortalApp />;
}
