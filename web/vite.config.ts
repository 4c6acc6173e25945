import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` serves the client with hot reload and sends the API to a running gateway (GATEWAY_URL, default
// the one `make dev` starts), so the session cookie stays same-origin. `vite build` writes dist/, which the
// gateway serves at `/`.
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/graphql": { target: gateway, ws: true, changeOrigin: false },
      "/client-config.json": { target: gateway },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
