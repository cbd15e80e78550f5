/** The run's artifact files (a flat, sorted listing) as a tree of directories, and what to show of a file. */
// No imports: the tests run these functions under Node, without the page's modules.

/** One file of a run's artifacts, as the API lists it. */
export interface ArtifactFile {
  path: string;
  size: number;
}

export interface TreeDir {
  kind: "dir";
  name: string;
  /** Relative to the run's artifact root, `/`-separated ("" for the root). */
  path: string;
  children: TreeNode[];
}

export interface TreeFile {
  kind: "file";
  name: string;
  path: string;
  size: number;
}

export type TreeNode = TreeDir | TreeFile;

/** Directories first, then files, each by name: as file browsers list them. */
export function buildTree(files: readonly ArtifactFile[]): TreeDir {
  const root: TreeDir = { kind: "dir", name: "", path: "", children: [] };
  const dirs = new Map<string, TreeDir>([["", root]]);
  const dirOf = (path: string): TreeDir => {
    const found = dirs.get(path);
    if (found) return found;
    const slash = path.lastIndexOf("/");
    const parent = dirOf(slash === -1 ? "" : path.slice(0, slash));
    const dir: TreeDir = { kind: "dir", name: path.slice(slash + 1), path, children: [] };
    parent.children.push(dir);
    dirs.set(path, dir);
    return dir;
  };
  for (const file of files) {
    const slash = file.path.lastIndexOf("/");
    const parent = dirOf(slash === -1 ? "" : file.path.slice(0, slash));
    parent.children.push({
      kind: "file",
      name: file.path.slice(slash + 1),
      path: file.path,
      size: file.size,
    });
  }
  for (const dir of dirs.values()) {
    dir.children.sort((a, b) =>
      a.kind !== b.kind ? (a.kind === "dir" ? -1 : 1) : a.name.localeCompare(b.name),
    );
  }
  return root;
}

/** The directories that hold an MLmodel file: each is a model that can be registered. */
export function modelDirs(files: readonly ArtifactFile[]): string[] {
  return files
    .filter((file) => file.path === "MLmodel" || file.path.endsWith("/MLmodel"))
    .map((file) => file.path.slice(0, -"MLmodel".length).replace(/\/$/, ""));
}

/** Every directory above `path` ("a/b/c.txt" → "a", "a/b"). */
export function ancestors(path: string): string[] {
  const parts = path.split("/").slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

export type ViewKind = "image" | "svg" | "table" | "json" | "text" | "binary";

const IMAGES = new Set(["png", "jpg", "jpeg", "gif", "webp"]);
const TABLES = new Set(["csv", "tsv", "parquet"]);
const TEXTS = new Set(
  "txt log md rst yaml yml toml ini cfg conf py r sql sh ts js html htm xml env".split(" "),
);
/** Text files written without an extension (MLflow's MLmodel among them). */
const TEXT_NAMES = new Set(["MLmodel", "LICENSE", "README"]);

export function viewKindOf(path: string): ViewKind {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (TEXT_NAMES.has(name)) return "text";
  const dot = name.lastIndexOf(".");
  const extension = dot <= 0 ? "" : name.slice(dot + 1).toLowerCase();
  if (IMAGES.has(extension)) return "image";
  // An SVG can carry scripts: it is offered for download, never drawn in the page.
  if (extension === "svg") return "svg";
  if (TABLES.has(extension)) return "table";
  if (extension === "json" || extension === "ipynb") return "json";
  if (TEXTS.has(extension)) return "text";
  return "binary";
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
