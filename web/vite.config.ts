import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// Two pages: the client (index.html) and GraphiQL (graphiql.html, which the gateway serves at GET /graphql).
// `npm run dev` serves the client with hot reload and sends the API to a running gateway (GATEWAY_URL, default
// the one `make dev` starts), so the session cookie stays same-origin. `vite build` writes dist/, which the
// gateway serves at `/`.
const gateway = process.env.GATEWAY_URL ?? "http://127.0.0.1:8000";

// A base64 data: URL in a stylesheet, and the file extension of its type.
const DATA_URL = /url\(\s*["']?data:(font\/ttf|font\/otf|font\/woff2?|image\/png|image\/svg\+xml);base64,([A-Za-z0-9+/=]+)["']?\s*\)/g;
const EXTENSIONS: Record<string, string> = { "image/svg+xml": "svg" };

/**
 * GraphiQL's stylesheets embed fonts and images as data: URLs. Written out as files of the build instead, so that the
 * content security policy keeps font-src and img-src at 'self' (no `data:`), and a page fetches only what it uses.
 */
function dataUrlsAsFiles(): Plugin {
  return {
    name: "ticket-store:data-urls-as-files",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== "asset" || !file.fileName.endsWith(".css")) continue;
        const css = typeof file.source === "string" ? file.source : new TextDecoder().decode(file.source);
        file.source = css.replace(DATA_URL, (_match, type: string, base64: string) => {
          const [kind = "", subtype = ""] = type.split("/");
          const name = `${kind}.${EXTENSIONS[type] ?? subtype}`;
          const emitted = this.emitFile({ type: "asset", name, source: Buffer.from(base64, "base64") });
          return `url(${posix.relative(posix.dirname(file.fileName), this.getFileName(emitted))})`;
        });
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), dataUrlsAsFiles()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 3000, // Monaco, GraphiQL's editor, is one 2.8 MB chunk (of the GraphiQL page only)
    rolldownOptions: {
      input: {
        index: fileURLToPath(new URL("index.html", import.meta.url)),
        graphiql: fileURLToPath(new URL("graphiql.html", import.meta.url)),
      },
      onLog(level, log, handler) {
        // GraphiQL's packages start modules with "use no memo" (for the React Compiler): harmless once bundled.
        if (log.code !== "MODULE_LEVEL_DIRECTIVE") handler(level, log);
      },
    },
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
