import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/logger.js";

/** Where `npm run build` puts the app (src/ui/build.ts): next to this module in dist/. */
export const UI_STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "static");

/** Paths that belong to the API: never answered with the app's index.html. */
export function isApiPath(url: string): boolean {
  const pathname = url.split("?")[0];
  return pathname === "/health" || pathname === "/api" || pathname.startsWith("/api/");
}

/**
 * Serves the web UI's built files at `/`, and index.html for any other GET path that is not
 * the API's (a shared link to a page of the app). API routes keep precedence: Fastify's router
 * prefers a static or parametric route over the catch-all, and an unknown /api/ path still
 * gets the API's JSON 404. Returns false (and logs) when the app was not built.
 */
export async function registerUiRoutes(
  app: FastifyInstance,
  options: { root?: string; logger?: Logger } = {},
): Promise<boolean> {
  const root = options.root ?? UI_STATIC_DIR;
  if (!existsSync(path.join(root, "index.html"))) {
    options.logger?.warn({ root }, "web UI not built (run `npm run build`): serving the API only");
    return false;
  }
  // wildcard: false registers one route per built file, so the catch-all below is ours.
  await app.register(fastifyStatic, { root, prefix: "/", wildcard: false, index: "index.html" });
  app.get("/*", (request, reply) => {
    if (isApiPath(request.url)) return reply.callNotFound();
    // The app's routes live in the fragment (#/experiments): any other path shows the app.
    return reply.type("text/html; charset=utf-8").sendFile("index.html");
  });
  return true;
}
