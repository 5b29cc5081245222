import type { NextConfig } from "next";
import { PHASE_DEVELOPMENT_SERVER } from "next/constants";

// `npm run dev` proxies the API (VALUEVERSE_API_URL, default the `make run` address) so that the pages
// talk to the same origin as in production; `npm run build` writes the static export to out/.
const api = process.env.VALUEVERSE_API_URL ?? "http://127.0.0.1:8000";

export default function config(phase: string): NextConfig {
  const base: NextConfig = {
    reactStrictMode: true,
    poweredByHeader: false,
    images: { unoptimized: true },
    devIndicators: false,
    turbopack: { root: import.meta.dirname },
  };
  if (phase === PHASE_DEVELOPMENT_SERVER) {
    return {
      ...base,
      async rewrites() {
        return [
          { source: "/graphql", destination: `${api}/graphql` },
          { source: "/v1/:path*", destination: `${api}/v1/:path*` },
        ];
      },
    };
  }
  return { ...base, output: "export" };
}
