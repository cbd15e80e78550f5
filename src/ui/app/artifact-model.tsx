import { useEffect, useId, useState } from "preact/hooks";
import {
  listModels,
  registerVersion,
  runModel,
  type ColumnSpec,
  type ModelVersion,
  type RunModel,
} from "./api-artifacts.js";
import { TokenRequired } from "./api.js";
import { Loaded, TokenPrompt, useLoad } from "./load.js";
import { href } from "./router.js";

/**
 * A model among the run's artifacts (a directory holding MLmodel): its signature, its input
 * example, and a form registering it as the next version of a registered model, with the very
 * `source` and signature `mldeploy models register runs:/<run>/<dir>` would record.
 */
export function RunModelCard(props: { runId: string; dir: string }) {
  const titleId = useId();
  const { state, retry } = useLoad(
    () => runModel(props.runId, props.dir),
    `${props.runId}/${props.dir}`,
  );
  const shown = props.dir === "" ? "the artifact root" : `${props.dir}/`;
  return (
    <section class="run-model" aria-labelledby={titleId}>
      <h3 id={titleId}>Model in {shown}</h3>
      <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
        {(model) => (
          <>
            <p>
              {model.onnx
                ? "An ONNX bundle: served as it is."
                : "An MLflow model of another flavor: converted to ONNX when it is loaded."}
            </p>
            <Signature model={model} />
            <InputExample model={model} />
            <RegisterForm model={model} />
          </>
        )}
      </Loaded>
    </section>
  );
}

function Signature(props: { model: RunModel }) {
  const { signature } = props.model;
  if (signature === null) return <p>This model has no signature.</p>;
  return (
    <>
      <SignatureTable caption="Signature inputs" columns={signature.inputs} />
      {signature.outputs.length > 0 && (
        <SignatureTable caption="Signature outputs" columns={signature.outputs} />
      )}
    </>
  );
}

function SignatureTable(props: { caption: string; columns: ColumnSpec[] }) {
  return (
    <div class="scroll" role="region" aria-label={props.caption} tabindex={0}>
      <table class="signature">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Column</th>
            <th scope="col">Type</th>
            <th scope="col">Required</th>
          </tr>
        </thead>
        <tbody>
          {props.columns.map((column) => (
            <tr key={column.name}>
              <th scope="row">{column.name}</th>
              <td>{column.type}</td>
              <td>{column.required === false ? "no" : "yes"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function InputExample(props: { model: RunModel }) {
  const example = props.model.inputExample ?? props.model.servingInputExample;
  if (example === null || example === undefined) return <p>No input example was saved.</p>;
  const file =
    props.model.inputExample !== null ? "input_example.json" : "serving_input_example.json";
  return (
    <>
      <h4>Input example ({file})</h4>
      <pre class="artifact-text" tabindex={0} aria-label="Input example">
        {JSON.stringify(example, null, 2)}
      </pre>
    </>
  );
}

type Submission =
  | { kind: "idle" }
  | { kind: "busy" }
  | { kind: "token"; message: string }
  | { kind: "failed"; message: string }
  | { kind: "done"; version: ModelVersion };

function RegisterForm(props: { model: RunModel }) {
  const nameId = useId();
  const listId = useId();
  const [name, setName] = useState("");
  const [names, setNames] = useState<string[]>([]);
  const [submission, setSubmission] = useState<Submission>({ kind: "idle" });
  useEffect(() => {
    // Suggestions only: without them (no token yet) any name can still be typed.
    listModels().then(
      (models) => setNames(models.map((model) => model.name)),
      () => undefined,
    );
  }, [submission.kind === "done"]);
  const submit = () => {
    const chosen = name.trim();
    setSubmission({ kind: "busy" });
    registerVersion(chosen, props.model).then(
      (version) => setSubmission({ kind: "done", version }),
      (error: Error) =>
        setSubmission(
          error instanceof TokenRequired
            ? { kind: "token", message: error.message }
            : { kind: "failed", message: error.message },
        ),
    );
  };
  return (
    <>
      <form
        class="register"
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <h4>Register as a new version</h4>
        <label for={nameId}>Model name (new or existing)</label>
        <input
          id={nameId}
          list={listId}
          value={name}
          onInput={(event) => setName(event.currentTarget.value)}
          autocomplete="off"
          required
        />
        <datalist id={listId}>
          {names.map((existing) => (
            <option key={existing} value={existing} />
          ))}
        </datalist>
        <button type="submit" disabled={submission.kind === "busy"}>
          Register as a new version
        </button>
      </form>
      {submission.kind === "token" && <TokenPrompt message={submission.message} onSaved={submit} />}
      {submission.kind === "failed" && <p role="alert">Not registered: {submission.message}</p>}
      <p role="status" class="register-result">
        {submission.kind === "done" && (
          <a href={href(`/models/${encodeURIComponent(submission.version.name)}`)}>
            Registered {submission.version.name} version {submission.version.version}
          </a>
        )}
      </p>
    </>
  );
}
