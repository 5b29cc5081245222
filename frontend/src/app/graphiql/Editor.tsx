"use client";

import "graphiql/setup-workers/webpack";
import { GraphiQL } from "graphiql";
import { useGraphiQL, useGraphiQLActions } from "@graphiql/react";
import { useEffect } from "react";
import { createClient, type Client } from "graphql-ws";
import { getOperationAST, parse } from "graphql";
import { GRAPHQL_PATH, websocketUrl } from "@/lib/graphql";

type Params = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };
type Options = { headers?: Record<string, unknown> };

export const DEFAULT_HEADERS = JSON.stringify({ Authorization: "Bearer <your API key>" }, null, 2);

const DEFAULT_QUERY = `# Your API key goes in the Headers tab; then run with ▶ (Ctrl-Enter).
query WhoAmI {
  viewer {
    kind
    name
    role
    organization {
      name
      defaultCurrency
    }
  }
}
`;

function authorizationOf(headers: Record<string, unknown> | undefined): string | undefined {
  const entry = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === "authorization");
  return typeof entry?.[1] === "string" ? entry[1] : undefined;
}

function isSubscription(params: Params): boolean {
  try {
    return getOperationAST(parse(params.query), params.operationName ?? undefined)?.operation === "subscription";
  } catch {
    return false;
  }
}

// One WebSocket per credential: connection_init carries {"authorization": "Bearer …"} from the Headers tab.
let socket: { authorization: string | undefined; client: Client } | null = null;

function socketFor(authorization: string | undefined): Client {
  if (!socket || socket.authorization !== authorization) {
    socket?.client.dispose();
    socket = {
      authorization,
      client: createClient({
        url: websocketUrl(),
        connectionParams: authorization ? { authorization } : {},
        lazy: true,
        retryAttempts: 0,
      }),
    };
  }
  return socket.client;
}

async function fetcher(params: Params, options?: Options) {
  const headers = options?.headers ?? {};
  if (isSubscription(params)) {
    return socketFor(authorizationOf(headers)).iterate({
      query: params.query,
      operationName: params.operationName ?? undefined,
      variables: params.variables ?? undefined,
    });
  }
  const response = await fetch(GRAPHQL_PATH, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...(headers as Record<string, string>) },
    body: JSON.stringify(params),
  });
  return response.json();
}

/** Fetches the schema again once the headers change (the API introspects for callers with a key only). */
function SchemaStatus() {
  const { introspect } = useGraphiQLActions();
  const headerEditor = useGraphiQL((state) => state.headerEditor);
  const schema = useGraphiQL((state) => state.schema);
  const fetchError = useGraphiQL((state) => state.fetchError);
  const isIntrospecting = useGraphiQL((state) => state.isIntrospecting);

  useEffect(() => {
    if (!headerEditor) return;
    let timer: number | undefined;
    const subscription = headerEditor.getModel()?.onDidChangeContent(() => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void introspect(), 600);
    });
    return () => {
      window.clearTimeout(timer);
      subscription?.dispose();
    };
  }, [headerEditor, introspect]);

  const words = isIntrospecting
    ? "Loading the schema…"
    : schema
      ? "Schema loaded: docs and completion are on."
      : fetchError
        ? "No schema: the API refused the headers. Put a valid API key in the Headers tab."
        : "No schema yet: put a valid API key in the Headers tab.";
  return (
    <p className="graphiql-schema-status" role="status">
      {words}
    </p>
  );
}

export default function Editor() {
  return (
    <GraphiQL
      fetcher={fetcher}
      defaultHeaders={DEFAULT_HEADERS}
      initialHeaders={DEFAULT_HEADERS}
      defaultQuery={DEFAULT_QUERY}
      isHeadersEditorEnabled
      defaultEditorToolsVisibility="headers"
    >
      <GraphiQL.Footer>
        <SchemaStatus />
      </GraphiQL.Footer>
    </GraphiQL>
  );
}
