import type { Metadata } from "next";
import { Explorer } from "./Explorer";

export const metadata: Metadata = { title: "GraphiQL · ValueVerse Billing" };

// Served by the API at GET /graphql for browsers: everything it loads comes from our own origin.
export default function GraphiQLPage() {
  return <Explorer />;
}
