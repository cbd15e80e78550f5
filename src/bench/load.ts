import autocannon from "autocannon";

export interface LoadSpec {
  url: string;
  body: string;
  contentType: string;
  connections: number;
  pipelining: number;
  durationSeconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  /** Latency percentiles in milliseconds (autocannon records whole milliseconds). */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

/** One autocannon run (in this process: the load generator's share of the CPU is one core). */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const result = await autocannon({
    url: spec.url,
    method: "POST",
    headers: { "content-type": spec.contentType },
    body: spec.body,
    connections: spec.connections,
    pipelining: spec.pipelining,
    duration: spec.durationSeconds,
  });
  return {
    requestsPerSecond: result["2xx"] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}
