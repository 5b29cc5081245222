"use client";

import dynamic from "next/dynamic";
import "graphiql/style.css";
import "./graphiql.css";

// Monaco (the editor inside GraphiQL) needs `window`: load it in the browser only.
const Editor = dynamic(() => import("./Editor"), {
  ssr: false,
  loading: () => (
    <p className="state" role="status">
      Loading the editor…
    </p>
  ),
});

export function Explorer() {
  return (
    <div className="graphiql-page">
      <header className="graphiql-intro">
        <h1>ValueVerse Billing GraphQL API</h1>
        <p>
          Put your API key (or a staff session token) in the <strong>Headers</strong> tab below as{" "}
          <code>{'{"Authorization": "Bearer <your API key>"}'}</code>. Subscriptions run over WebSocket with the same token.{" "}
          <a href="/admin">Admin portal</a>
        </p>
      </header>
      <main id="main" className="graphiql-main">
        <Editor />
      </main>
    </div>
  );
}
