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
