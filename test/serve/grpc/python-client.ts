import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pythonHas, SYSTEM_PYTHON } from "../../helpers/python.js";

/**
 * An independent gRPC client: Debian's python3-grpcio, with the stubs python3-grpc-tools
 * compiles from the vendored spec (src/serve/grpc/grpc_predict_v2.proto) inside the test.
 * Nothing of mldeploy's gRPC code (nor @grpc/grpc-js) is on this side of the wire.
 */

export const PROTO = fileURLToPath(
  new URL("../../../src/serve/grpc/grpc_predict_v2.proto", import.meta.url),
);

/** Why the Python client cannot run here, or undefined when it can. */
export function pythonGrpcMissing(): string | undefined {
  for (const module of ["grpc", "grpc_tools", "numpy", "google.protobuf"]) {
    if (!pythonHas(module))
      return `${SYSTEM_PYTHON} lacks the ${module} module (Debian: python3-grpcio, python3-grpc-tools, python3-numpy)`;
  }
  return undefined;
}

/** One call: a method of inference.GRPCInferenceService and its request as proto JSON. */
export interface Call {
  method:
    "ServerLive" | "ServerReady" | "ModelReady" | "ServerMetadata" | "ModelMetadata" | "ModelInfer";
  /** The request in protobuf's JSON mapping (json_format.ParseDict, proto field names). */
  request?: Record<string, unknown>;
  /** ModelInfer: move every input's typed contents to raw_input_contents (numpy's bytes). */
  raw?: boolean;
  /** Bytes (base64) sent as the request instead of a message: a malformed one. */
  garbage?: string;
  /** Metadata sent with the call, e.g. {authorization: "Bearer …"}. */
  metadata?: Record<string, string>;
}

export interface Reply {
  /** The gRPC status name (OK, INVALID_ARGUMENT, …). */
  code: string;
  details: string;
  /** The response in protobuf's JSON mapping (proto field names, defaults included). */
  response?: Record<string, unknown>;
  /** ModelInfer: each output's elements, read from raw_output_contents or typed contents. */
  decoded?: Record<string, unknown[]>;
  /** ModelInfer: whether the answer came as raw_output_contents. */
  raw?: boolean;
}

const DRIVER = String.raw`
import base64, json, struct, sys, importlib
sys.path.insert(0, sys.argv[1])
import grpc, numpy as np
from google.protobuf import json_format
pb = importlib.import_module("grpc_predict_v2_pb2")
stubs = importlib.import_module("grpc_predict_v2_pb2_grpc")

NUMPY = {"BOOL": "?", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
         "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
         "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
FIELD = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
         "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
         "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
         "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}

def raw_bytes(tensor):
    values = list(getattr(tensor.contents, FIELD.get(tensor.datatype, "fp64_contents")))
    if tensor.datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in values)
    return np.array(values, dtype=NUMPY[tensor.datatype]).tobytes()

def decode_raw(datatype, data):
    if datatype == "BYTES":
        out, offset = [], 0
        while offset < len(data):
            (n,) = struct.unpack_from("<I", data, offset)
            out.append(data[offset + 4: offset + 4 + n].decode("utf-8"))
            offset += 4 + n
        return out
    return np.frombuffer(data, dtype=NUMPY[datatype]).tolist()

def decode_typed(tensor):
    values = list(getattr(tensor.contents, FIELD[tensor.datatype]))
    return [v.decode("utf-8") for v in values] if tensor.datatype == "BYTES" else values

def to_dict(message):
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         including_default_value_fields=True)
    except TypeError:  # protobuf >= 5.26 renamed the option
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)

target, calls = sys.argv[2], json.load(sys.stdin)
options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
with grpc.insecure_channel(target, options=options) as channel:
    stub = stubs.GRPCInferenceServiceStub(channel)
    replies = []
    for call in calls:
        method = call["method"]
        if "garbage" in call:
            send = channel.unary_unary("/inference.GRPCInferenceService/" + method)
            try:
                send(base64.b64decode(call["garbage"]), timeout=30)
                replies.append({"code": "OK", "details": ""})
            except grpc.RpcError as error:
                replies.append({"code": error.code().name, "details": error.details() or ""})
            continue
        request = json_format.ParseDict(call.get("request", {}), getattr(pb, method + "Request")())
        if call.get("raw"):
            for tensor in request.inputs:
                request.raw_input_contents.append(raw_bytes(tensor))
                tensor.ClearField("contents")
        metadata = list((call.get("metadata") or {}).items())
        try:
            response = getattr(stub, method)(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            replies.append({"code": error.code().name, "details": error.details() or ""})
            continue
        reply = {"code": "OK", "details": "", "response": to_dict(response)}
        if method == "ModelInfer":
            raw = len(response.raw_output_contents) > 0
            reply["raw"] = raw
            reply["decoded"] = {
                t.name: decode_raw(t.datatype, response.raw_output_contents[i]) if raw else decode_typed(t)
                for i, t in enumerate(response.outputs)}
        replies.append(reply)
    json.dump(replies, sys.stdout)
`;

let stubsDir: string | undefined;

/** Compiles the vendored proto with grpc_tools.protoc (once per test file). */
function compiledStubs(): string {
  if (stubsDir) return stubsDir;
  const out = mkdtempSync(path.join(os.tmpdir(), "mldeploy-grpc-stubs-"));
  const result = spawnSync(
    SYSTEM_PYTHON,
    [
      "-m",
      "grpc_tools.protoc",
      `-I${path.dirname(PROTO)}`,
      `--python_out=${out}`,
      `--grpc_python_out=${out}`,
      PROTO,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`grpc_tools.protoc failed: ${result.stderr}`);
  stubsDir = out;
  return out;
}

/**
 * Makes the calls in order on one channel to `target` (host:port), from a Python process run
 * asynchronously: the server under test is usually in this very process.
 */
export function callPython(target: string, calls: Call[]): Promise<Reply[]> {
  const dir = compiledStubs();
  return new Promise<Reply[]>((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, ["-c", DRIVER, dir, target]);
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(out) as Reply[])
        : reject(new Error(`python gRPC client failed (${code}): ${err}`)),
    );
    child.stdin.end(JSON.stringify(calls));
  });
}
