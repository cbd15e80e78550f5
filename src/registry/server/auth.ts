import { bearerChecker as checkBearer } from "../../config/bearer.js";
import { RegistryError } from "../errors.js";

/**
 * Checks `Authorization: Bearer <token>` in constant time. Returns the error to answer with,
 * or undefined when the header carries the expected token.
 */
export function bearerChecker(
  token: string,
): (header: string | undefined) => RegistryError | undefined {
  const check = checkBearer(token);
  return (header) => {
    switch (check(header)) {
      case "ok":
        return undefined;
      case "missing":
        return new RegistryError(
          "UNAUTHORIZED",
          "this registry server requires a token: send Authorization: Bearer <token> " +
            "(mldeploy sends MLDEPLOY_REGISTRY_TOKEN)",
        );
      case "refused":
        return new RegistryError(
          "UNAUTHORIZED",
          "the bearer token was refused: check MLDEPLOY_REGISTRY_TOKEN",
        );
    }
  };
}

/**
 * POST routes that only read: a search takes its filter in a body (as MLflow's runs/search)
 * but changes nothing, so --public-read answers it without a token too. Paths as in routes.ts.
 */
const READ_ONLY_POSTS = new Set(["/runs/search"]);

/** Whether a request to `path` (routes.ts spelling, no /api/v1 prefix) only reads the registry. */
export function isReadOnly(method: string, path: string): boolean {
  if (method === "GET" || method === "HEAD") return true;
  return method === "POST" && READ_ONLY_POSTS.has(path);
}
