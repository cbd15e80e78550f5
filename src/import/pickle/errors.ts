import { ImportError } from "../types.js";

/**
 * A pickle asked for a global (a class or function to call) outside the allow-list. Python's
 * own pickle.load would import and call it — that is how a pickle runs code — so mldeploy
 * refuses the whole file, naming the global, before it builds anything from it.
 *
 * As agreed for issue 17, `module` and `name` are the refused global's (for os.system:
 * "os" and "system"); `name` therefore does not hold the error class's name as on other
 * errors — test with `instanceof RefusedGlobalError`.
 */
export class RefusedGlobalError extends ImportError {
  readonly module: string;
  override readonly name: string;

  constructor(source: string, module: string, name: string, reason?: string) {
    super(
      `${source}: refused to load: it asks for ${module}.${name}, ` +
        (reason ??
          "which is not a model class mldeploy reads (pickles can run code; only known estimator and numpy classes are allowed)"),
    );
    this.module = module;
    this.name = name;
  }

  /** "module.name", as the message says it. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A pickle (or joblib) file that cannot be read: truncated, corrupt, or not a pickle at all. */
export function malformed(source: string, offset: number, what: string): ImportError {
  return new ImportError(`${source}: malformed pickle at byte ${offset}: ${what}`);
}
