"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import type { TypedDocumentString } from "@/gql/graphql";
import { useAuth } from "./auth";
import { ApiError, execute } from "./graphql";

type QueryState<R> = { data?: R; error?: ApiError; loading: boolean };

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError("server", "Something went wrong in the page. Reload it.");
}

/** Runs a query with the session token; keeps the previous data while the next one loads (paging). */
export function useQuery<R, V>(document: TypedDocumentString<R, V>, variables: V, options?: { skip?: boolean }) {
  const { session, logout } = useAuth();
  const [state, setState] = useState<QueryState<R>>({ loading: true });
  const [nonce, setNonce] = useState(0);
  const key = JSON.stringify(variables);
  const skip = options?.skip ?? false;

  useEffect(() => {
    if (skip || !session) return;
    const controller = new AbortController();
    setState((previous) => ({ data: previous.data, loading: true }));
    execute(document, JSON.parse(key) as V, session.token, controller.signal).then(
      (data) => setState({ data, loading: false }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const apiError = asApiError(error);
        if (apiError.kind === "unauthenticated") logout("Your session has ended. Sign in again.");
        setState({ error: apiError, loading: false });
      },
    );
    return () => controller.abort();
  }, [document, key, session, skip, nonce, logout]);

  const refetch = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, refetch };
}

/** A mutation to run on demand; resolves to its data or throws an ApiError. */
export function useMutation<R, V>(document: TypedDocumentString<R, V>) {
  const { session, logout } = useAuth();
  const [running, setRunning] = useState(false);
  const run = useCallback(
    async (variables: V): Promise<R> => {
      setRunning(true);
      try {
        return await execute(document, variables, session?.token ?? null);
      } catch (error) {
        const apiError = asApiError(error);
        if (apiError.kind === "unauthenticated") logout("Your session has ended. Sign in again.");
        throw apiError;
      } finally {
        setRunning(false);
      }
    },
    [document, session, logout],
  );
  return [run, running] as const;
}

/** A GraphQL subscription over the session's graphql-ws connection. */
export function useSubscription<R, V>(
  document: TypedDocumentString<R, V>,
  variables: V,
  options?: { skip?: boolean },
) {
  const { live, session } = useAuth();
  const [data, setData] = useState<R | undefined>();
  const [error, setError] = useState<string | undefined>();
  const key = JSON.stringify(variables);
  const skip = options?.skip ?? false;
  const counter = useRef(0);
  const [updates, setUpdates] = useState(0);

  useEffect(() => {
    const client = live();
    if (skip || !client || !session) return;
    setError(undefined);
    const unsubscribe = client.subscribe<R>(
      { query: document.toString(), variables: JSON.parse(key) as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) setError(result.errors[0].message);
          if (result.data) {
            setData(result.data);
            counter.current += 1;
            setUpdates(counter.current);
          }
        },
        error: (reason: unknown) => {
          setError(reason instanceof Error ? reason.message : "the live connection was closed");
        },
        complete: () => undefined,
      },
    );
    return unsubscribe;
  }, [document, key, live, session, skip]);

  return { data, error, updates };
}

/** Forward-only cursors (first/after) with a stack for "Previous". */
export function useCursorPager() {
  const [stack, setStack] = useState<(string | null)[]>([null]);
  const next = useCallback((endCursor: string | null | undefined) => {
    if (endCursor) setStack((s) => [...s, endCursor]);
  }, []);
  const previous = useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []);
  const reset = useCallback(() => setStack((s) => (s.length === 1 && s[0] === null ? s : [null])), []);
  return { after: stack[stack.length - 1], page: stack.length, next, previous, reset };
}

/** `value`, once it has stopped changing for `delay` ms (a preview that follows typing without a request per key). */
export function useDebounced<T>(value: T, delay: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), delay);
    return () => window.clearTimeout(timer);
  }, [value, delay]);
  return settled;
}
