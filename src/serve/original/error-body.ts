/** The original /predict's error body: `{error, field?, row?}` (the field and row at fault). */
export function originalErrorBody(
  _statusCode: number,
  message: string,
  field?: string,
  row?: number,
): Record<string, unknown> {
  const body: Record<string, unknown> = { error: message };
  if (field !== undefined) body.field = field;
  if (row !== undefined) body.row = row;
  return body;
}
