import type { TypedDocumentString } from "@/gql/graphql";
import { createClient, type Client } from "graphql-ws";

export const GRAPHQL_PATH = "/graphql";

export type ApiErrorKind = "network" | "unauthenticated" | "forbidden" | "not-found" | "server" | "request";

/** A failed request, with words a person can act on. */
export class ApiError extends Error {
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

type GraphQLErrorBody = { message: string; extensions?: { code?: string; requestId?: string; request_id?: string } };

const KIND_BY_CODE: Record<string, ApiErrorKind> = {
  UNAUTHENTICATED: "unauthenticated",
  FORBIDDEN: "forbidden",
  NOT_FOUND: "not-found",
  INTERNAL_SERVER_ERROR: "server",
};

function errorOf(errors: GraphQLErrorBody[], requestId?: string): ApiError {
  const first = errors[0];
  const code = first?.extensions?.code ?? "";
  return new ApiError(
    KIND_BY_CODE[code] ?? "request",
    first?.message ?? "the API answered with an error",
    first?.extensions?.requestId ?? first?.extensions?.request_id ?? requestId,
  );
}

/** One query or mutation over HTTP POST, same origin; `token` goes in the Authorization header. */
export async function execute<Result, Variables>(
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
  token: string | null,
  signal?: AbortSignal,
): Promise<Result> {
  let response: Response;
  try {
    response = await fetch(GRAPHQL_PATH, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError("network", "The API cannot be reached. Check your connection and try again.");
  }
  const requestId = response.headers.get("X-Request-ID") ?? undefined;
  let body: { data?: Result; errors?: GraphQLErrorBody[] } | null = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401) {
    throw new ApiError("unauthenticated", body?.errors?.[0]?.message ?? "Your session has ended.", requestId);
  }
  if (response.status === 429) {
    throw new ApiError("request", "Too many requests: wait a moment and try again.", requestId);
  }
  if (body?.errors?.length) throw errorOf(body.errors, requestId);
  if (!response.ok || !body?.data) {
    throw new ApiError("server", `The API answered ${response.status}. Try again in a moment.`, requestId);
  }
  return body.data;
}

export function websocketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}${GRAPHQL_PATH}`;
}

/** A graphql-transport-ws client whose connection_init carries {"authorization": "Bearer …"}. */
/** `token`: the credential, or how to read the current one when (re)connecting (a renewed staff session's). */
export function liveClient(token: string | (() => string), onStatus?: (status: LiveStatus) => void): Client {
  const current = typeof token === "function" ? token : () => token;
  return createClient({
    url: websocketUrl(),
    connectionParams: () => ({ authorization: `Bearer ${current()}` }),
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: 30,
    // A refused or revoked credential (4401/4403) is not retried; a dropped connection is.
    shouldRetry: (event) => !(isCloseEvent(event) && REFUSED.has(event.code)),
    on: {
      connecting: () => onStatus?.("connecting"),
      connected: () => onStatus?.("live"),
      closed: (event) => onStatus?.(isCloseEvent(event) && REFUSED.has(event.code) ? "refused" : "reconnecting"),
    },
  });
}

export type LiveStatus = "connecting" | "live" | "reconnecting" | "refused";

const REFUSED = new Set([4400, 4401, 4403]);

function isCloseEvent(value: unknown): value is { code: number } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number";
}
