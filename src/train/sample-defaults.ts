/**
 * Defaults of the sample-data generator, in a module of their own so that the CLI can show them
 * in --help without loading DuckDB.
 */

/** Trips per generated month: a real green-taxi month has about 70,000. */
export const DEFAULT_SAMPLE_ROWS = 70_000;
