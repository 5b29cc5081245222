import type { Metadata } from "next";

export const metadata: Metadata = { title: "Customer portal" };

// Customers enter through a portal link that their supplier gives them; every /portal/… address that is
// not a page of its own is answered with this page by the server.
export default function PortalPlaceholder() {
  return (
    <main id="main" className="centered">
      <h1>Customer portal</h1>
      <p>To see your usage and invoices, open the portal link your supplier sent you.</p>
      <p>A portal link is personal and expires: if yours no longer works, ask your supplier for a new one.</p>
    </main>
  );
}
