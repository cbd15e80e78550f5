import path from "node:path";
import { UserError } from "../../config/errors.js";
import { formatArtifactUri, parseArtifactUri, type ArtifactLocation } from "../artifacts/uri.js";
import { RegistryError } from "../errors.js";
import { RequestValidationError } from "./validation.js";

/**
 * Where a registry server lets clients point artifacts: a model version's `source` and an
 * experiment's artifact location must lie under one of these roots. Every client reads what
 * those fields name (serve downloads a version's source), so a client that could register
 * `/etc` or `s3://other-bucket/…` would make others read it. The check is lexical: `..` in a
 * plain path is resolved before comparing, and refused outright in file:// URIs and S3 keys.
 */
export class ArtifactRoots {
  private constructor(
    private readonly roots: readonly ArtifactLocation[] | "any",
    /** As configured, for messages. */
    readonly shown: readonly string[],
  ) {}

  /** `roots`: directories, file:// URIs or s3://bucket[/prefix]; a bad one is a UserError. */
  static of(roots: readonly string[]): ArtifactRoots {
    const parsed = roots.map((root) => {
      try {
        return parseArtifactUri(root);
      } catch (error) {
        throw new UserError(`invalid artifact root "${root}": ${(error as Error).message}`);
      }
    });
    return new ArtifactRoots(
      parsed,
      parsed.map((root) => formatArtifactUri(root)),
    );
  }

  /** No check at all (tests and embedders that validate elsewhere). */
  static any(): ArtifactRoots {
    return new ArtifactRoots("any", []);
  }

  /**
   * Whether the server may read at `location` (a run's artifact root, read for the web UI):
   * under a root, or anything when the server checks no roots. A location it cannot parse is
   * not allowed.
   */
  allows(location: string): boolean {
    if (this.roots === "any") return true;
    let parsed: ArtifactLocation;
    try {
      parsed = parseArtifactUri(location);
    } catch {
      return false;
    }
    return this.roots.some((root) => contains(root, parsed));
  }

  /** Throws a 400 naming `field` unless `location` lies under a root. */
  check(field: string, location: string): void {
    if (this.roots === "any") return;
    const refuse = (why: string) =>
      new RequestValidationError(
        `invalid request body field "${field}": ${why}; this server accepts absolute paths, ` +
          `file:// or s3:// URIs under its artifact roots (${this.shown.join(", ")})`,
        field,
      );
    const shown = JSON.stringify(location.length > 200 ? `${location.slice(0, 200)}…` : location);
    let parsed: ArtifactLocation;
    try {
      // A relative path would be resolved against the server's working directory: it cannot
      // mean what the client meant.
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(location) && !path.isAbsolute(location)) {
        throw refuse(`${shown} is neither an absolute path nor a URI`);
      }
      parsed = parseArtifactUri(location);
    } catch (error) {
      if (error instanceof RegistryError) throw refuse(error.message);
      throw error;
    }
    if (!this.roots.some((root) => contains(root, parsed))) {
      throw refuse(`${shown} is outside the server's artifact roots`);
    }
  }
}

function contains(root: ArtifactLocation, location: ArtifactLocation): boolean {
  if (root.kind === "local" && location.kind === "local") {
    const relative = path.relative(root.path, location.path);
    return (
      relative === "" ||
      (!path.isAbsolute(relative) && relative !== ".." && !relative.startsWith(`..${path.sep}`))
    );
  }
  if (root.kind === "s3" && location.kind === "s3") {
    return (
      root.bucket === location.bucket &&
      (root.key === "" || location.key === root.key || location.key.startsWith(`${root.key}/`))
    );
  }
  return false;
}
