import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Unit tests of the logic that lives in the browser (src/lib): plain Node, no DOM. Dates are read in one
// time zone so that what a test expects does not depend on the machine's.
export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    env: { TZ: "Europe/Berlin" },
  },
});
