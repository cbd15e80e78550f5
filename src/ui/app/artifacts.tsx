import { useState } from "preact/hooks";
import "./artifacts.css";
import { listArtifacts, type ArtifactFile } from "./api-artifacts.js";
import type { Run } from "./api.js";
import { RunModelCard } from "./artifact-model.js";
import {
  ancestors,
  buildTree,
  formatBytes,
  modelDirs,
  type TreeDir,
  type TreeNode,
} from "./artifact-tree.js";
import { ArtifactViewer } from "./artifact-viewer.js";
import { Loaded, useLoad } from "./load.js";
import { href, replace, useLocation } from "./router.js";

/** The address's query key of the selected file: a shared link opens on it. */
const SELECTED = "artifact";

/**
 * The run's artifacts (issue 20, page 3): a tree of its files, a viewer for the one selected,
 * and for each directory holding a model its signature, input example and a form registering
 * it as a new version. Everything is read through the registry API (local disk or S3 alike).
 */
export function RunArtifacts(props: { run: Run }) {
  const { run } = props;
  const { state, retry } = useLoad(() => listArtifacts(run.id), run.id);
  return (
    <section class="artifacts" aria-labelledby="artifacts-title">
      <h2 id="artifacts-title">Artifacts</h2>
      <Loaded state={state} retry={retry} notFound={(message) => <p role="alert">{message}</p>}>
        {(list) =>
          list.files.length === 0 ? (
            <p>This run has logged no artifacts.</p>
          ) : (
            <ArtifactBrowser runId={run.id} files={list.files} truncated={list.truncated} />
          )
        }
      </Loaded>
    </section>
  );
}

function ArtifactBrowser(props: { runId: string; files: ArtifactFile[]; truncated: boolean }) {
  const location = useLocation();
  const selected = location.query.get(SELECTED) ?? undefined;
  const file = props.files.find((candidate) => candidate.path === selected);
  const tree = buildTree(props.files);
  const [expanded, setExpanded] = useState<Set<string>>(
    () => new Set(selected === undefined ? [] : ancestors(selected)),
  );
  const toggle = (path: string) =>
    setExpanded((now) => {
      const next = new Set(now);
      if (!next.delete(path)) next.add(path);
      return next;
    });
  const select = (path: string) => {
    const query = Object.fromEntries(location.query);
    replace(href(location.path, { ...query, [SELECTED]: path }));
  };
  return (
    <>
      {props.truncated && (
        <p class="artifact-note">
          Only the first {props.files.length.toLocaleString()} files are listed.
        </p>
      )}
      <div class="artifacts-layout">
        <div class="artifact-tree-box">
          <TreeList
            dir={tree}
            expanded={expanded}
            selected={selected}
            toggle={toggle}
            select={select}
            label="Artifact files"
          />
        </div>
        <div class="artifact-view-box">
          {file ? (
            <ArtifactViewer runId={props.runId} path={file.path} size={file.size} />
          ) : selected !== undefined ? (
            <p role="alert">The run has no artifact file “{selected}”.</p>
          ) : (
            <p class="artifact-note">Choose a file to see what it holds.</p>
          )}
        </div>
      </div>
      {modelDirs(props.files).map((dir) => (
        <RunModelCard key={dir} runId={props.runId} dir={dir} />
      ))}
    </>
  );
}

interface TreeProps {
  expanded: Set<string>;
  selected: string | undefined;
  toggle: (path: string) => void;
  select: (path: string) => void;
}

/**
 * One directory's entries as a list of real buttons: a directory's button opens or closes it
 * (aria-expanded), a file's shows it (aria-current). Tab and Enter or Space reach everything.
 */
function TreeList(props: TreeProps & { dir: TreeDir; label?: string }) {
  const { dir, label, ...tree } = props;
  return (
    <ul class="artifact-tree" aria-label={label}>
      {dir.children.map((node) => (
        <TreeItem key={node.path} {...tree} node={node} />
      ))}
    </ul>
  );
}

function TreeItem(props: TreeProps & { node: TreeNode }) {
  const { node } = props;
  if (node.kind === "file") {
    const current = node.path === props.selected;
    return (
      <li>
        <button
          type="button"
          class="artifact-file"
          aria-current={current ? "true" : undefined}
          onClick={() => props.select(node.path)}
        >
          <span class="artifact-name">{node.name}</span>
          <span class="artifact-size">{formatBytes(node.size)}</span>
        </button>
      </li>
    );
  }
  const open = props.expanded.has(node.path);
  return (
    <li>
      <button
        type="button"
        class="artifact-dir"
        aria-expanded={open}
        onClick={() => props.toggle(node.path)}
      >
        <span aria-hidden="true">{open ? "▾" : "▸"} </span>
        {node.name}/
      </button>
      {open && (
        <TreeList
          dir={node}
          expanded={props.expanded}
          selected={props.selected}
          toggle={props.toggle}
          select={props.select}
        />
      )}
    </li>
  );
}
