import { humanize } from "@/lib/format";

const TONE: Record<string, string> = {
  ACTIVE: "ok",
  PAID: "ok",
  TRIALING: "info",
  PENDING: "info",
  DRAFT: "info",
  OPEN: "warn",
  PAST_DUE: "bad",
  UNCOLLECTIBLE: "bad",
  CANCELED: "",
  TERMINATED: "",
  VOID: "",
  SUCCEEDED: "ok",
  PROCESSING: "info",
  REQUIRES_ACTION: "warn",
  FAILED: "bad",
  RETURNED: "bad",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${TONE[status] ?? ""}`}>{humanize(status)}</span>;
}
