import { useEffect, useState } from "preact/hooks";
import { downloadArtifact, fetchArtifact, tableHead, type TableHead } from "./api-artifacts.js";
import { TokenRequired } from "./api.js";
import { formatBytes, viewKindOf } from "./artifact-tree.js";
import { Loaded, TokenPrompt, useLoad } from "./load.js";

/** The most of a text file shown: enough to read, little enough for a phone. */
export const TEXT_HEAD_BYTES = 100 * 1024;
/** The largest image drawn in the page (it is fetched whole); bigger ones are downloaded. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Rows of a CSV or Parquet file shown. */
export const TABLE_ROWS = 100;

/** One artifact file: its name, size and a download button, then what it holds. */
export function ArtifactViewer(props: { runId: string; path: string; size: number }) {
  const { runId, path, size } = props;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const kind = viewKindOf(path);
  return (
    <section class="artifact-viewer" aria-labelledby="artifact-viewer-title">
      <h3 id="artifact-viewer-title">{path}</h3>
      <div class="artifact-actions">
        <span>{formatBytes(size)}</span>
        <DownloadButton runId={runId} path={path} name={name} />
      </div>
      {kind === "image" && size <= MAX_IMAGE_BYTES && (
        <ImageView key={path} runId={runId} path={path} name={name} />
      )}
      {kind === "image" && size > MAX_IMAGE_BYTES && (
        <p>This image is over {formatBytes(MAX_IMAGE_BYTES)}: download it to look at it.</p>
      )}
      {kind === "table" && <TableView key={path} runId={runId} path={path} name={name} />}
      {(kind === "text" || kind === "json") && (
        <TextView key={path} runId={runId} path={path} name={name} json={kind === "json"} />
      )}
      {kind === "svg" && (
        <p>SVG images are not drawn here (they may hold scripts): download it to look at it.</p>
      )}
      {kind === "binary" && <p>No preview for this kind of file: download it.</p>}
    </section>
  );
}

function DownloadButton(props: { runId: string; path: string; name: string }) {
  const [state, setState] = useState<
    { kind: "idle" } | { kind: "busy" } | { kind: "token" | "failed"; message: string }
  >({ kind: "idle" });
  const download = () => {
    setState({ kind: "busy" });
    downloadArtifact(props.runId, props.path).then(
      () => setState({ kind: "idle" }),
      (error: Error) =>
        setState({
          kind: error instanceof TokenRequired ? "token" : "failed",
          message: error.message,
        }),
    );
  };
  return (
    <>
      <button type="button" onClick={download} disabled={state.kind === "busy"}>
        Download {props.name}
      </button>
      {state.kind === "failed" && <p role="alert">Download failed: {state.message}</p>}
      {state.kind === "token" && <TokenPrompt message={state.message} onSaved={download} />}
    </>
  );
}

/** Text (JSON pretty-printed): the file's first TEXT_HEAD_BYTES, in a scrollable block. */
function TextView(props: { runId: string; path: string; name: string; json: boolean }) {
  const { state, retry } = useLoad(async () => {
    const { blob, truncated } = await fetchArtifact(props.runId, props.path, {
      maxBytes: TEXT_HEAD_BYTES,
    });
    let text = new TextDecoder().decode(await blob.arrayBuffer());
    let pretty = false;
    if (props.json && !truncated) {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
        pretty = true;
      } catch {
        // Not valid JSON after all: shown as it is.
      }
    }
    return { text, truncated, pretty };
  }, `${props.runId}/${props.path}`);
  return (
    <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
      {({ text, truncated, pretty }) => (
        <>
          {truncated && (
            <p class="artifact-note">
              The first {formatBytes(TEXT_HEAD_BYTES)} are shown; download the file for the rest.
            </p>
          )}
          {props.json && !pretty && !truncated && (
            <p class="artifact-note">Not valid JSON: shown as it is.</p>
          )}
          <pre class="artifact-text" tabindex={0} aria-label={`Contents of ${props.name}`}>
            {text}
          </pre>
        </>
      )}
    </Loaded>
  );
}

/** An image, from an object URL of its bytes (an `<img src>` could not send the token). */
function ImageView(props: { runId: string; path: string; name: string }) {
  const { state, retry } = useLoad(
    () => fetchArtifact(props.runId, props.path),
    `${props.runId}/${props.path}`,
  );
  const [url, setUrl] = useState<string | undefined>(undefined);
  const blob = state.kind === "done" ? state.value.blob : undefined;
  useEffect(() => {
    if (blob === undefined) return undefined;
    const objectUrl = URL.createObjectURL(blob);
    setUrl(objectUrl);
    return () => URL.revokeObjectURL(objectUrl);
  }, [blob]);
  return (
    <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
      {() => url && <img class="artifact-image" src={url} alt={`Image ${props.name}`} />}
    </Loaded>
  );
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function tableCaption(head: TableHead, name: string): string {
  if (!head.truncated) return `${name}: all ${head.rows.length} rows`;
  const of = head.totalRows === null ? "" : ` of ${head.totalRows.toLocaleString()}`;
  return `${name}: first ${head.rows.length}${of} rows`;
}

/** The first TABLE_ROWS rows of a CSV or Parquet file, read by the server. */
function TableView(props: { runId: string; path: string; name: string }) {
  const { state, retry } = useLoad(
    () => tableHead(props.runId, props.path, TABLE_ROWS),
    `${props.runId}/${props.path}`,
  );
  return (
    <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
      {(head) => (
        <div
          class="scroll artifact-rows"
          role="region"
          aria-label={`Rows of ${props.name}`}
          tabindex={0}
        >
          <table class="artifact-table">
            <caption>{tableCaption(head, props.name)}</caption>
            <thead>
              <tr>
                {head.columns.map((column, i) => (
                  <th key={i} scope="col">
                    {column}
                    {head.format === "parquet" && (
                      <span class="artifact-type"> {head.types[i]}</span>
                    )}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {head.rows.map((row, r) => (
                <tr key={r}>
                  {row.map((value, c) => (
                    <td key={c}>{cellText(value)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Loaded>
  );
}
