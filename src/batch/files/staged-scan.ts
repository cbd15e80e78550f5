import {
  BIGINT,
  DuckDBTableFunction,
  type DuckDBConnection,
  type DuckDBDataChunk,
  type DuckDBType,
  type DuckDBVector,
} from "@duckdb/node-api";

/** One column of a stage: its DuckDB type, and how to copy rows of it into a vector. */
export interface StagedColumn {
  type: DuckDBType;
  /** Writes rows [start, start + count) into `vector` (already sized to `count` rows). */
  fill(vector: DuckDBVector, start: number, count: number): void;
}

interface Stage {
  columns: StagedColumn[];
  rows: number;
}

/** DuckDB's vector size: a table function's output chunk holds at most this many rows. */
const VECTOR_ROWS = 2048;
const FUNCTION_NAME = "mldeploy_staged";

/**
 * Columns held in JS memory, readable by SQL on one connection as `mldeploy_staged(<key>)`: the
 * file sink's COPY of a chunk selects from it directly. Inserting the chunk into a temp table
 * through the appender first cost about as much again as the COPY itself, most of it in the
 * appender's flush, which is synchronous and held the main thread.
 *
 * DuckDB calls the function back on the JS thread, one output vector (2048 rows) at a time,
 * while the query runs (`connection.run()` is asynchronous, so the thread is free for it). The
 * scan is limited to one thread: the callbacks are serialized on the JS thread anyway.
 */
export class StagedScan {
  private readonly stages = new Map<number, Stage>();
  private nextKey = 0;

  constructor(connection: DuckDBConnection) {
    connection.registerTableFunction(
      DuckDBTableFunction.create({
        name: FUNCTION_NAME,
        parameterTypes: [BIGINT],
        bindFunction: (bind) => {
          const stage = this.stages.get(Number(bind.getParameter(0)));
          if (stage === undefined) {
            bind.setError(`${FUNCTION_NAME}: no such stage`);
            return;
          }
          stage.columns.forEach((column, i) => bind.addResultColumn(`c${i}`, column.type));
          bind.setBindData(stage);
          bind.setCardinality(stage.rows, true);
        },
        initFunction: (init) => {
          init.setMaxThreads(1);
          init.setInitData({ next: 0 });
        },
        mainFunction: (info, output) => {
          try {
            fillOutput(info.bindData as Stage, info.initData as { next: number }, output);
          } catch (error) {
            // A throw would escape into the native callback; DuckDB fails the query instead.
            info.setError(`${FUNCTION_NAME}: ${(error as Error).message}`);
          }
        },
      }),
    );
  }

  /** Runs `use` with a table expression reading `columns` (`rows` rows), valid during the call. */
  async with<T>(
    columns: StagedColumn[],
    rows: number,
    use: (table: string) => Promise<T>,
  ): Promise<T> {
    const key = ++this.nextKey;
    this.stages.set(key, { columns, rows });
    try {
      return await use(`${FUNCTION_NAME}(${key})`);
    } finally {
      this.stages.delete(key);
    }
  }
}

function fillOutput(stage: Stage, state: { next: number }, output: DuckDBDataChunk): void {
  const count = Math.min(VECTOR_ROWS, stage.rows - state.next);
  // Set first: a column vector is sized by the chunk's row count when it is fetched.
  output.rowCount = count;
  if (count === 0) return;
  stage.columns.forEach((column, i) => {
    const vector = output.getColumnVector(i);
    column.fill(vector, state.next, count);
    vector.flush();
  });
  state.next += count;
}
