"use client";

import { useState } from "react";
import { ConnectionView, PageHead } from "@/components/Page";
import { Table } from "@/components/Table";
import { graphql } from "@/gql";
import type { VerifyAuditChainQuery } from "@/gql/graphql";
import { formatDateTime } from "@/lib/format";
import { ApiError, execute } from "@/lib/graphql";
import { useAuth } from "@/lib/auth";
import { useCursorPager, useQuery } from "@/lib/hooks";

const AuditQuery = graphql(`
  query AuditLogs($first: Int, $after: String, $targetType: String) {
    auditLogs(first: $first, after: $after, targetType: $targetType) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        seq
        actorType
        actorId
        action
        targetType
        targetId
        before
        after
        requestId
        createdAt
        hash
      }
    }
  }
`);

const VerifyQuery = graphql(`
  query VerifyAuditChain {
    verifyAuditChain {
      valid
      checkedEntries
      firstBrokenSeq
      reason
    }
  }
`);

type Verification = VerifyAuditChainQuery["verifyAuditChain"];

export default function AuditPage() {
  const { session } = useAuth();
  const pager = useCursorPager();
  const [targetType, setTargetType] = useState("");
  const { data, error, loading, refetch } = useQuery(AuditQuery, { first: 50, after: pager.after, targetType: targetType || null });
  const [verification, setVerification] = useState<Verification | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const [verifying, setVerifying] = useState(false);
  const connection = data?.auditLogs;

  async function verify() {
    setVerifying(true);
    setVerifyError(null);
    try {
      setVerification((await execute(VerifyQuery, {}, session?.token ?? null)).verifyAuditChain);
    } catch (failure) {
      setVerifyError(failure instanceof ApiError ? failure.message : "The check could not run.");
    } finally {
      setVerifying(false);
    }
  }

  return (
    <>
      <PageHead
        title="Audit log"
        actions={
          <button type="button" onClick={verify} disabled={verifying}>
            {verifying ? "Verifying…" : "Verify the chain"}
          </button>
        }
      />
      <p className="muted">
        Every change, newest first. Each entry holds the SHA-256 of the previous one, so a later edit of any entry breaks the chain.
      </p>
      <div aria-live="polite">
        {verification ? (
          verification.valid ? (
            <p className="notice success">The chain is intact: {verification.checkedEntries} entries checked.</p>
          ) : (
            <p className="notice error">
              The chain is broken at entry #{verification.firstBrokenSeq}: {verification.reason ?? "its hash does not match"} ({verification.checkedEntries} entries checked).
            </p>
          )
        ) : null}
        {verifyError ? <p className="notice error">{verifyError}</p> : null}
      </div>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="audit-target">Target type</label>
          <select
            id="audit-target"
            value={targetType}
            onChange={(e) => {
              setTargetType(e.target.value);
              pager.reset();
            }}
          >
            <option value="">All</option>
            {["customer", "subscription", "invoice", "plan", "billable_metric", "api_key", "staff_user", "organization", "credit_note", "coupon", "wallet", "tax_rate"].map((t) => (
              <option key={t} value={t}>
                {t.replaceAll("_", " ")}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ConnectionView
        connection={connection}
        state={{ error, loading, refetch }}
        what="the audit log"
        noun="entries"
        failed="the audit log"
        empty={<>No entries{targetType ? " of this kind" : ""} yet.</>}
        pager={pager}
      >
        {(nodes) => (
          <Table caption="Audit entries, newest first">
            <thead>
              <tr>
                <th scope="col" className="num">
                  #
                </th>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {nodes.map((entry) => (
                <tr key={entry.seq}>
                  <td className="num">{entry.seq}</td>
                  <td>{formatDateTime(entry.createdAt)}</td>
                  <td>
                    {entry.actorType.replaceAll("_", " ")}
                    {entry.actorId ? <div className="muted mono">{entry.actorId}</div> : null}
                  </td>
                  <td className="mono">{entry.action}</td>
                  <td>
                    {entry.targetType.replaceAll("_", " ")}
                    {entry.targetId ? <div className="muted mono">{entry.targetId}</div> : null}
                  </td>
                  <td>
                    {entry.before || entry.after ? (
                      <details>
                        <summary>Before and after</summary>
                        <pre className="json">{JSON.stringify({ before: entry.before, after: entry.after }, null, 2)}</pre>
                      </details>
                    ) : (
                      "—"
                    )}
                    {entry.requestId ? <div className="muted">request {entry.requestId}</div> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </ConnectionView>
    </>
  );
}
