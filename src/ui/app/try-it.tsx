// Placeholder until the "try it" form is built (issue 20): shown on a model's page, it sends
// the model's input example (editable) to a live deployment of the model and shows the answer.
export function TryIt(props: { model: string }) {
  void props;
  return null;
}
