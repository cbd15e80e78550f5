import { describe, expect, it } from "vitest";
import { openBatchSink, openBatchSource } from "../../../src/batch/endpoints.js";
import {
  FileBatchSink,
  FileBatchSource,
  openFileSink,
  openFileSource,
  parseFileLocation,
} from "../../../src/batch/files/index.js";

describe("file locations", () => {
  it("recognises paths, globs and prefixes", () => {
    expect(parseFileLocation("rides.parquet")).toEqual({
      path: "rides.parquet",
      format: "parquet",
    });
    expect(parseFileLocation("data/green_tripdata_2021-*.parquet")).toEqual({
      path: "data/green_tripdata_2021-*.parquet",
      format: "parquet",
    });
    expect(parseFileLocation("rides.csv.gz")).toEqual({ path: "rides.csv.gz", format: "csv" });
    expect(parseFileLocation("parquet:data/part-*")).toEqual({
      path: "data/part-*",
      format: "parquet",
    });
    expect(parseFileLocation("csv:/tmp/rides.txt")).toEqual({
      path: "/tmp/rides.txt",
      format: "csv",
    });
    expect(parseFileLocation("file:///tmp/rides.parquet")).toEqual({
      path: "/tmp/rides.parquet",
      format: "parquet",
    });
    expect(parseFileLocation("postgres://u@h/db")).toBeUndefined();
    expect(parseFileLocation("sqlite:rides.db")).toBeUndefined();
    expect(parseFileLocation("rides.json")).toBeUndefined();
  });

  it("opens sources and sinks, refusing a glob as a sink", async () => {
    const source = openFileSource("csv:rides.txt");
    expect(source).toBeInstanceOf(FileBatchSource);
    expect(source.description).toBe("csv:rides.txt");
    await source.close();
    expect(openFileSink("out/predictions.parquet")).toBeInstanceOf(FileBatchSink);
    expect(() => openFileSink("out/*.parquet")).toThrow(/not a glob/);
    expect(() => openFileSource("rides.json")).toThrow(/not a file source/);
  });

  it("names an unsupported --source or --sink before anything else (even --table)", async () => {
    const hint = /not a database or file this job can use; give sqlite:<file>, postgres:/;
    await expect(openBatchSource("mysql://db/rides", { table: "rides" })).rejects.toThrow(
      new RegExp(`^--source mysql://db/rides: ${hint.source}`),
    );
    await expect(openBatchSink("predictions.json", {})).rejects.toThrow(
      new RegExp(`^--sink predictions.json: ${hint.source}`),
    );
  });
});
