// Placeholder until the "try it" form is built (issue 20): shown on a model's page.
export function TryIt(props: { model: string; inputExample?: unknown }) {
  void props;
  return null;
}
