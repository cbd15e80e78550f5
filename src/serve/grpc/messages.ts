/**
 * The messages of grpc_predict_v2.proto as @grpc/proto-loader hands them over with the options
 * of proto.ts (keepCase, int64 as numbers, bytes as Buffers, defaults filled in): only the
 * fields mldeploy reads or writes.
 */

/** InferTensorContents: one repeated field per datatype family. */
export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents: TensorContents | null;
}

export interface InferRequestedOutputTensor {
  name: string;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  inputs: InferInputTensor[];
  outputs: InferRequestedOutputTensor[];
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents?: TensorContents;
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  raw_output_contents: Buffer[];
}

export interface ModelRequest {
  name: string;
  version: string;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}
