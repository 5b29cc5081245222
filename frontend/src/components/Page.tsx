"use client";

import Link from "next/link";
import { Suspense, type ComponentType, type ReactNode } from "react";
import type { ApiError } from "@/lib/graphql";
import { Pager } from "./Pager";
import { Empty, ErrorNotice, Loading } from "./States";

/** The head every admin page has: the document title, an optional way back to its section, the h1 and actions. */
export function PageHead({
  title,
  heading,
  section,
  actions,
}: {
  title: string;
  heading?: ReactNode;
  section?: { href: string; label: string };
  actions?: ReactNode;
}) {
  return (
    <>
      <title>{`${title} · ${section?.label ?? "Admin"} · ValueVerse Billing`}</title>
      {section ? (
        <p className="breadcrumb">
          <Link href={section.href}>{section.label}</Link> /
        </p>
      ) : null}
      <div className="page-head">
        <h1>{heading ?? title}</h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </div>
    </>
  );
}

type QueryState = { error?: ApiError; loading: boolean; refetch(): void };

/** What a detail page shows before its data is there (an error with a retry, or loading); null once it is. */
export function pending(state: QueryState & { data?: unknown }, what: string): ReactNode | null {
  if (state.error) return <ErrorNotice error={state.error} onRetry={state.refetch} what={what} />;
  if (state.loading && !state.data) return <Loading what={what} />;
  return null;
}

type Connection<N> = { nodes: N[]; totalCount: number; pageInfo: { hasNextPage: boolean; endCursor?: string | null } };
type CursorPager = { page: number; previous(): void; next(endCursor: string | null | undefined): void };

/** A list page's body: error, loading and empty states, the rows (`children`) and the pager. `what` is what is
 * loading ("invoices"), `failed` what could not be loaded (default: "the <noun>"). */
export function ConnectionView<N>({
  connection,
  state,
  what,
  noun,
  failed,
  empty,
  pager,
  children,
}: {
  connection: Connection<N> | undefined;
  state: QueryState;
  what: string;
  noun: string;
  failed?: string;
  empty: ReactNode;
  pager?: CursorPager;
  children(nodes: N[]): ReactNode;
}) {
  return (
    <>
      {state.error ? <ErrorNotice error={state.error} onRetry={state.refetch} what={failed ?? `the ${noun}`} /> : null}
      {state.loading && !connection ? <Loading what={what} /> : null}
      {connection && connection.nodes.length === 0 ? <Empty>{empty}</Empty> : null}
      {connection && connection.nodes.length > 0 ? (
        <>
          {children(connection.nodes)}
          {pager ? (
            <Pager
              page={pager.page}
              hasNext={connection.pageInfo.hasNextPage}
              total={connection.totalCount}
              shown={connection.nodes.length}
              noun={noun}
              onPrevious={pager.previous}
              onNext={() => pager.next(connection.pageInfo.endCursor)}
            />
          ) : null}
        </>
      ) : null}
    </>
  );
}

/** A page that reads its search parameters: rendered inside Suspense, as the static export needs. */
export function withSuspense(Page: ComponentType, what: string) {
  return function Suspended() {
    return (
      <Suspense fallback={<Loading what={what} />}>
        <Page />
      </Suspense>
    );
  };
}
