import { execFile } from "node:child_process";
import { pythonHas, SYSTEM_PYTHON } from "./python.js";

/**
 * ONNX's own checker, from Debian's python3-onnx (1.12: IR 8, ai.onnx 17, ai.onnx.ml 3), as
 * the reference for "is this a valid model". Test files guard with
 * `describe.skipIf(!ONNX_CHECKER_AVAILABLE)` and name NO_ONNX_CHECKER as the reason.
 */
export const ONNX_CHECKER_AVAILABLE: boolean = pythonHas("onnx");

export const NO_ONNX_CHECKER =
  "skipped: /usr/bin/python3 lacks onnx (apt-get install python3-onnx)";

// Reads the model (bytes on stdin, or a path, whose external data then resolves beside it),
// runs check_model with full_check (strict shape and type inference) and prints one line.
const SCRIPT = `
import sys, onnx
try:
    if len(sys.argv) > 1:
        model = onnx.load(sys.argv[1])
    else:
        model = onnx.load_model_from_string(sys.stdin.buffer.read())
    onnx.checker.check_model(model, full_check=True)
except Exception as error:
    message = " ".join(str(error).split())
    sys.stderr.write("%s: %s" % (type(error).__name__, message))
    sys.exit(3)
`;

/**
 * Resolves when `onnx.checker.check_model(model, full_check=True)` accepts the model (bytes,
 * or the path of a .onnx file); otherwise rejects with the checker's message, on one line.
 */
export function checkOnnx(model: Uint8Array | string): Promise<void> {
  if (!ONNX_CHECKER_AVAILABLE) {
    return Promise.reject(new Error(`checkOnnx: ${NO_ONNX_CHECKER}`));
  }
  const args = ["-c", SCRIPT, ...(typeof model === "string" ? [model] : [])];
  return new Promise((resolve, reject) => {
    const child = execFile(
      SYSTEM_PYTHON,
      args,
      { encoding: "utf8", timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (!error) resolve();
        else if (error.code === 3) reject(new Error(`ONNX checker: ${stderr.trim()}`));
        else reject(new Error(`ONNX checker did not run (${error.message}): ${stderr.trim()}`));
      },
    );
    if (typeof model === "string") child.stdin?.end();
    else child.stdin?.end(model);
  });
}
