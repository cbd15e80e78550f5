import { RegistryError } from "../errors.js";
import type { Deployment, DeploymentStore } from "../store/types.js";

/** Bounds of a prediction sent through the registry server ("try it" in the web UI). */
export const INVOKE_LIMITS = {
  /** Request body sent on, in bytes. */
  requestBytes: 1024 * 1024,
  /** Answer kept, in bytes (the rest is cut and flagged). */
  answerBytes: 1024 * 1024,
  timeoutMs: 10_000,
};

export interface InvocationAnswer {
  status: number | null;
  contentType: string | null;
  body: unknown;
  truncated: boolean;
  error?: string;
  ms: number;
}

/**
 * Sends `body` to the MLflow scoring route (/invocations) of a live serve deployment and
 * returns what it answered, whatever the status: the page shows a validation error naming
 * the field as it shows a prediction. Only the endpoint a registered serve deployment
 * reported is ever called (no URL comes from the request), redirects are not followed, and
 * both bodies and the wait are bounded. `serveToken`, when given, goes to the deployment as
 * its bearer token (a serve started with --auth-token answers 401 without it).
 */
export async function invokeDeployment(
  store: DeploymentStore,
  id: string,
  body: unknown,
  serveToken?: string,
): Promise<InvocationAnswer> {
  const deployment = (await store.listDeployments()).find((each) => each.id === id);
  if (deployment === undefined) {
    throw new RegistryError("NOT_FOUND", `no live deployment "${id}" (it stopped, or never beat)`);
  }
  const url = invocationsUrl(deployment);
  const payload = JSON.stringify(body);
  const size = Buffer.byteLength(payload);
  if (size > INVOKE_LIMITS.requestBytes) {
    throw new RegistryError(
      "INVALID_VALUE",
      `the request is ${size} bytes; try it sends at most ${INVOKE_LIMITS.requestBytes}`,
    );
  }
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(serveToken !== undefined && { authorization: `Bearer ${serveToken}` }),
      },
      body: payload,
      redirect: "manual",
      signal: AbortSignal.timeout(INVOKE_LIMITS.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return {
      status: null,
      contentType: null,
      body: null,
      truncated: false,
      error: timedOut
        ? `${url} did not answer within ${INVOKE_LIMITS.timeoutMs} ms`
        : `cannot reach ${url}: ${reason(error)}`,
      ms: elapsed(),
    };
  }
  const { text, truncated } = await readBounded(response, INVOKE_LIMITS.answerBytes);
  const contentType = response.headers.get("content-type");
  let parsed: unknown = text;
  if (!truncated && contentType?.includes("json")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Shown as the text it is.
    }
  }
  return { status: response.status, contentType, body: parsed, truncated, ms: elapsed() };
}

function invocationsUrl(deployment: Deployment): string {
  if (deployment.mode !== "serve") {
    throw new RegistryError(
      "INVALID_STATE",
      `deployment "${deployment.id}" is a ${deployment.mode} process; only serve deployments answer predictions`,
    );
  }
  let base: URL;
  try {
    base = new URL(deployment.endpoint);
  } catch {
    base = new URL("invalid:");
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new RegistryError(
      "INVALID_STATE",
      `deployment "${deployment.id}" reported no HTTP endpoint (${deployment.endpoint})`,
    );
  }
  return new URL("invocations", base.href.endsWith("/") ? base.href : `${base.href}/`).href;
}

async function readBounded(
  response: Response,
  limit: number,
): Promise<{ text: string; truncated: boolean }> {
  if (response.body === null) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > limit) {
      parts.push(value.subarray(0, limit - size));
      truncated = true;
      await reader.cancel();
      break;
    }
    parts.push(value);
    size += value.length;
  }
  return { text: Buffer.concat(parts).toString("utf8"), truncated };
}

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === "string") return cause.code;
  if (typeof cause?.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}
