import type { RowIds } from "../monitor/prediction-log/writer.js";
import type { ColumnarBatch, PredictionBatch, PredictOptions } from "../model/types.js";
import type { ServeContext } from "./context.js";
import { RequestError } from "./errors.js";
import type { InputLimits } from "./records-input.js";
import type { ServedModel } from "./served-model.js";

/**
 * What every protocol's routes do between reading a request and writing the answer, written
 * once (as MLServer's handlers/dataplane.py is for its REST and gRPC front-ends): find the
 * model (read once per request: it can be swapped), predict, count. The routes parse the
 * request in their protocol's shape and write the answer in it.
 */
export class DataPlane {
  constructor(private readonly ctx: ServeContext) {}

  get limits(): InputLimits {
    return this.ctx.limits;
  }

  /** False once shutdown began: health checks then fail so load balancers stop sending. */
  isReady(): boolean {
    return this.ctx.isReady();
  }

  /** The default model as it is now (/predict, /invocations, /version). */
  defaultModel(): ServedModel {
    return this.ctx.models.current;
  }

  /** Every served model as it is now, the default first. */
  models(): ServedModel[] {
    return [...this.ctx.byName.values()].map((holder) => holder.current);
  }

  /** The names models are served under. */
  names(): string[] {
    return [...this.ctx.byName.keys()];
  }

  /**
   * The served model of that name (and version, if given), or 404 (also for another version
   * than the one served). The name stays while versions come and go with the registry alias.
   */
  model(name: string, version?: string): ServedModel {
    const holder = this.ctx.byName.get(name);
    if (holder === undefined) {
      const served = this.names()
        .map((each) => `"${each}"`)
        .join(", ");
      throw new RequestError(
        404,
        `model "${name}" is not served here (this server serves ${served})`,
      );
    }
    const served = holder.current;
    const { info } = served;
    if (version !== undefined && version !== info.version) {
      throw new RequestError(
        404,
        `model "${name}" has no version "${version}" here (serving version "${info.version}")`,
      );
    }
    return served;
  }

  /**
   * Predicts a parsed request with `served` (micro-batched), counts its rows and queues them
   * for the prediction log when it is on. `ids` names the rows there (ride_id, the request's
   * id); asked only when the log is on, so a server without it pays nothing.
   */
  async predict(
    served: ServedModel,
    batch: ColumnarBatch,
    options?: PredictOptions,
    ids?: (idField: string) => RowIds | undefined,
  ): Promise<PredictionBatch> {
    const log = this.ctx.predictionLog;
    // A classifier's probabilities are logged even when the caller did not ask for them.
    const logsProbabilities = log !== undefined && served.info.probabilities !== undefined;
    const asked = options?.probabilities === true;
    const result = await served.predictor.predictColumns(
      batch,
      logsProbabilities && !asked ? { ...options, probabilities: true } : options,
    );
    this.ctx.metrics?.countPredictions(served.info.name, result.rows);
    if (log)
      log.record(served.info, batch, result.values, ids?.(log.idField), result.probabilities);
    return asked || result.probabilities === undefined
      ? result
      : { rows: result.rows, values: result.values };
  }
}
