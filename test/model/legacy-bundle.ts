import path from "node:path";
import { saveBundle } from "../../src/model/bundle.js";
import { RIDES_SPEC } from "../../src/rides/index.js";
import { exportOnnx } from "../../src/train/onnx-export.js";
import { rideModel } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

let pending: Promise<string> | undefined;

/**
 * The trained ride model (see rideModel) as bundles were written before issue 19: the graph
 * takes PU_DO (a string) and trip_distance, and mldeploy.features derives them from the request.
 * Still what mldeploy writes for a feature map it cannot compile into the graph, and what
 * string-codes.ts speeds up.
 */
export function legacyRideBundlePath(): Promise<string> {
  pending ??= (async () => {
    const { model } = await rideModel();
    const dir = path.join(tempDir("mldeploy-legacy-"), "ride-duration");
    await saveBundle(dir, {
      onnx: exportOnnx(model, { outputName: RIDES_SPEC.output, producer: "mldeploy" }),
      signature: {
        inputs: [
          { name: "PU_DO", type: "string" },
          { name: "trip_distance", type: "double" },
        ],
        outputs: [{ name: RIDES_SPEC.output, type: "double" }],
      },
      mldeploy: {
        format_version: 1,
        inputs: RIDES_SPEC.inputs,
        features: RIDES_SPEC.features,
        output: RIDES_SPEC.output,
      },
      inputExample: RIDES_SPEC.inputExample,
      inlineFeatures: false,
    });
    return dir;
  })();
  return pending;
}
