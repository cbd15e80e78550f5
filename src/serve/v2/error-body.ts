/** The Open Inference Protocol's error body: `{error}` only. */
export function v2ErrorBody(_statusCode: number, message: string): Record<string, unknown> {
  return { error: message };
}
