import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { stringify as stringifyYaml } from "yaml";

/**
 * The files of an MLflow model directory as `mlflow.onnx.save_model` writes them (MLflow 2.x:
 * mlflow/onnx/__init__.py `save_model`, mlflow/models/model.py `Model.to_dict`/`save`,
 * mlflow/pyfunc/__init__.py `add_to_model`, mlflow/utils/environment.py `_mlflow_conda_env`,
 * `_process_pip_requirements`, `_PythonEnv`, mlflow/models/utils.py `_Example`), so that MLflow's
 * loaders (`mlflow models serve --env-manager virtualenv|conda|local`, `mlflow.pyfunc.load_model`)
 * find what they read.
 */

/**
 * The MLflow release mldeploy follows, for the files of a bundle and the scoring server alike
 * (serve's `GET /version` answers it): 2.19.0, the last 2.x whose `mlflow models serve` ran the
 * Flask app of mlflow/pyfunc/scoring_server/__init__.py (2.20 moved it to FastAPI), and one that
 * writes `serving_input_example.json` (2.14 still wrote serving_input_payload.json).
 */
export const MLFLOW_VERSION = "2.19.0";
/**
 * The Python the environment files pin. MLflow records the Python it ran in; mldeploy runs no
 * Python, so it names the one its bundles are checked with: Debian 12's 3.11.2 (python3-onnx 1.12
 * reads every graph in the tests), for which onnxruntime publishes wheels.
 */
export const PYTHON_VERSION = "3.11.2";
/** `_PythonEnv.get_current_build_dependencies()` of that Python (Debian 12's pip, setuptools, wheel). */
const BUILD_DEPENDENCIES = ["pip==23.0.1", "setuptools==66.1.1", "wheel==0.38.4"];
/** onnxruntime as mldeploy runs it (onnxruntime-node): Python's of the same release gives the same numbers. */
export const ONNXRUNTIME_VERSION = "1.30.0";
/**
 * ONNX release whose IR and opsets the graphs declare (flavors.onnx.onnx_version). MLflow pins
 * the onnx it saved with; onnx 1.12.0 has no wheel for Python 3.11, so the requirement is
 * "this release or later" (any later onnx reads the graph): a deliberate difference.
 */
export const ONNX_VERSION = "1.12.0";
/** mlflow.onnx's default (ONNX_EXECUTION_PROVIDERS): onnxruntime falls back to CPU without CUDA. */
const PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"];

export const MODEL_FILE = "model.onnx";
export const INPUT_EXAMPLE_FILE = "input_example.json";
export const SERVING_INPUT_EXAMPLE_FILE = "serving_input_example.json";

/** requirements.txt: mlflow first (`_process_pip_requirements`), then the flavor's, sorted. */
export function pipRequirements(): string[] {
  return [
    `mlflow==${MLFLOW_VERSION}`,
    `onnx>=${ONNX_VERSION}`,
    `onnxruntime==${ONNXRUNTIME_VERSION}`,
  ];
}

/** The environment files, written after MLmodel (so not in model_size_bytes), as MLflow does. */
export function environmentFiles(): Record<string, string> {
  const requirements = pipRequirements();
  return {
    // `_mlflow_conda_env(additional_pip_deps=…, install_mlflow=False)`, yaml.safe_dump.
    "conda.yaml": pythonYaml({
      channels: ["conda-forge"],
      dependencies: [
        `python=${PYTHON_VERSION}`,
        `pip<=${BUILD_DEPENDENCIES[0].split("==")[1]}`,
        { pip: requirements },
      ],
      name: "mlflow-env",
    }),
    // `_PythonEnv.current().to_yaml(...)`: sort_keys=False.
    "python_env.yaml": pythonYaml(
      {
        python: PYTHON_VERSION,
        build_dependencies: BUILD_DEPENDENCIES,
        dependencies: ["-r requirements.txt"],
      },
      false,
    ),
    // `write_to(path, "\n".join(pip_requirements))`: no final newline.
    "requirements.txt": requirements.join("\n"),
  };
}

/** MLmodel's flavors: `add_flavor("onnx", …)` and `pyfunc.add_to_model(…)` of save_model. */
export function flavors(): Record<string, unknown> {
  return {
    onnx: {
      code: null,
      data: MODEL_FILE,
      onnx_session_options: null,
      onnx_version: ONNX_VERSION,
      providers: PROVIDERS,
    },
    python_function: {
      data: MODEL_FILE,
      env: { conda: "conda.yaml", virtualenv: "python_env.yaml" },
      loader_module: "mlflow.onnx",
      python_version: PYTHON_VERSION,
    },
  };
}

/** A DataFrame example as `_Example` writes it: split orient without the index. */
export interface SplitExample {
  columns: string[];
  data: unknown[][];
}

/** input_example.json (json.dumps) and serving_input_example.json (json.dumps(…, indent=2)). */
export function exampleFiles(example: SplitExample): Record<string, string> {
  return {
    [INPUT_EXAMPLE_FILE]: pythonJson(example),
    [SERVING_INPUT_EXAMPLE_FILE]: JSON.stringify({ dataframe_split: example }, null, 2),
  };
}

/** MLmodel's `saved_input_example_info` for those two files. */
export function savedInputExampleInfo(): Record<string, string> {
  return {
    artifact_path: INPUT_EXAMPLE_FILE,
    pandas_orient: "split",
    serving_input_path: SERVING_INPUT_EXAMPLE_FILE,
    type: "dataframe",
  };
}

/** `str(datetime.utcnow())`, as Model() records utc_time_created. */
export function utcTimeCreated(now = new Date()): string {
  return now.toISOString().replace("T", " ").replace("Z", "000");
}

/**
 * `get_total_file_size(path)` (mlflow/utils/file_utils.py): the bytes of every file under the
 * directory, walked as os.walk does (links to files counted by their target's size).
 */
export async function totalFileSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await totalFileSize(full);
    else total += (await stat(full)).size;
  }
  return total;
}

/**
 * YAML as PyYAML's safe_dump(default_flow_style=False) writes it: keys sorted, lists not
 * indented, long scalars folded PyYAML's way (see foldLikePyYaml).
 */
export function pythonYaml(value: unknown, sortKeys = true): string {
  const text = stringifyYaml(value, { lineWidth: 0, indentSeq: false, sortMapEntries: sortKeys });
  return text
    .split("\n")
    .map((line) => foldLikePyYaml(line))
    .join("\n");
}

/** PyYAML's Emitter.best_width. */
const PYYAML_WIDTH = 80;

/**
 * PyYAML folds a plain or single-quoted scalar at a single space once the line has gone past
 * 80 columns (Emitter.write_plain / write_single_quoted), continuing one indent (2) deeper than
 * its key or list item; the yaml package folds before 80 instead. Lines of one scalar after
 * `key: ` or `- ` are refolded here as PyYAML would write them.
 */
function foldLikePyYaml(line: string): string {
  if (line.length <= PYYAML_WIDTH) return line;
  const match = /^( *)(- |[^'"\s][^:]*: )(.*)$/.exec(line);
  if (!match) return line;
  const [, indent, lead, scalar] = match;
  if (scalar.startsWith('"') || scalar.startsWith("|") || scalar.startsWith(">")) return line;
  const continuation = " ".repeat(indent.length + 2);
  let out = indent + lead;
  let column = out.length;
  const quoted = scalar.startsWith("'");
  // Words split at single spaces; PyYAML never breaks at a run of spaces, nor at the edges.
  const body = scalar;
  let start = 0;
  for (let at = 0; at <= body.length; at++) {
    if (at < body.length && body[at] !== " ") continue;
    const word = body.slice(start, at);
    out += word;
    column += word.length;
    if (at === body.length) break;
    const single = body[at + 1] !== " " && body[at - 1] !== " ";
    const edge = quoted ? at === 1 || at === body.length - 2 : false;
    if (single && !edge && column > PYYAML_WIDTH && at + 1 < body.length) {
      out += "\n" + continuation;
      column = continuation.length;
    } else {
      out += " ";
      column += 1;
    }
    start = at + 1;
  }
  return out;
}

/** JSON as Python's json.dumps writes it by default: ", " between items, ": " after keys. */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).filter(
      ([, item]) => item !== undefined,
    );
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}: ${pythonJson(item)}`).join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
