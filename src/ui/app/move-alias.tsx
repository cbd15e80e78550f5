import { useRef, useState } from "preact/hooks";
import { deleteAlias, setAlias, type ModelVersion, type RegisteredModel } from "./api-models.js";
import { ConfirmDialog } from "./confirm-dialog.js";

/** What the confirmation dialog is about, if it is open. */
type Pending =
  | { kind: "move"; alias: string; from: number | undefined; to: number }
  | { kind: "delete"; alias: string; from: number };

const versionLabel = (version: ModelVersion, latest: number | null) => {
  const notes = [
    ...(version.version === latest ? ["latest"] : []),
    ...version.aliases.map((alias) => `@${alias}`),
  ];
  return `version ${version.version}${notes.length ? ` (${notes.join(", ")})` : ""}`;
};

/**
 * A model's aliases: the list (each with Move and Delete), and the form that points an alias,
 * existing or new, at a version, after a confirmation showing the current and the new version.
 * `refresh` reloads the page's data and reports the outcome; it never throws.
 */
export function AliasesSection(props: {
  model: RegisteredModel;
  versions: ModelVersion[];
  refresh: (message: string) => Promise<void>;
  status: string;
}) {
  const { model, versions } = props;
  const aliases = Object.entries(model.aliases);
  const newest = versions.length ? versions[versions.length - 1].version : undefined;
  const [alias, setAliasName] = useState(aliases[0]?.[0] ?? "");
  const [target, setTarget] = useState<number | undefined>(newest);
  const [problem, setProblem] = useState("");
  const [pending, setPending] = useState<Pending | null>(null);
  const versionSelect = useRef<HTMLSelectElement>(null);
  const statusLine = useRef<HTMLParagraphElement>(null);
  const chosen = target !== undefined && versions.some((v) => v.version === target);

  function review(event: Event): void {
    event.preventDefault();
    const name = alias.trim();
    if (name === "") return setProblem("Name the alias to move (e.g. production).");
    if (!chosen || target === undefined) return setProblem("Choose the version it points at.");
    if (model.aliases[name] === target) {
      return setProblem(`@${name} already points at version ${target}.`);
    }
    setProblem("");
    setPending({ kind: "move", alias: name, from: model.aliases[name], to: target });
  }

  function startMove(name: string, version: number): void {
    setAliasName(name);
    // Offer the newest other version: promoting is the common move.
    const other = [...versions].reverse().find((v) => v.version !== version);
    setTarget(other?.version ?? version);
    setProblem("");
    versionSelect.current?.focus();
  }

  if (versions.length === 0) {
    return <p>No versions yet: an alias points at a version, so register one first.</p>;
  }

  return (
    <>
      {aliases.length === 0 ? (
        <p>No aliases yet. Point one at a version below (e.g. production).</p>
      ) : (
        <ul class="aliases">
          {aliases.map(([name, version]) => (
            <li key={name} data-alias={name}>
              <span class="alias-change">
                <span class="alias">@{name}</span> → version {version}
              </span>
              <span class="alias-actions">
                <button
                  type="button"
                  aria-label={`Move @${name}`}
                  onClick={() => startMove(name, version)}
                >
                  Move
                </button>
                <button
                  type="button"
                  aria-label={`Delete @${name}`}
                  onClick={() => setPending({ kind: "delete", alias: name, from: version })}
                >
                  Delete
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}

      <form class="move-alias" onSubmit={review} aria-labelledby="move-alias-heading" noValidate>
        <h3 id="move-alias-heading">Move an alias</h3>
        <div class="move-alias-fields">
          <span class="field">
            <label for="move-alias-name">Alias</label>
            <input
              id="move-alias-name"
              list="move-alias-known"
              autocomplete="off"
              spellcheck={false}
              value={alias}
              onInput={(event) => setAliasName(event.currentTarget.value)}
              aria-describedby="move-alias-hint"
            />
            <datalist id="move-alias-known">
              {aliases.map(([name]) => (
                <option key={name} value={name} />
              ))}
            </datalist>
          </span>
          <span class="field">
            <label for="move-alias-version">Version</label>
            <select
              id="move-alias-version"
              ref={versionSelect}
              value={target === undefined ? "" : String(target)}
              onChange={(event) => setTarget(Number(event.currentTarget.value))}
            >
              {[...versions].reverse().map((version) => (
                <option key={version.version} value={String(version.version)}>
                  {versionLabel(version, model.latestVersion)}
                </option>
              ))}
            </select>
          </span>
          <button type="submit">Move alias…</button>
        </div>
        <p id="move-alias-hint" class="muted">
          An existing alias or a new name. Deployments that follow models:/{model.name}@alias switch
          to the version it points at.
        </p>
        {problem ? (
          <p role="alert" class="error">
            {problem}
          </p>
        ) : null}
      </form>
      <p role="status" class="status" ref={statusLine} tabindex={-1}>
        {props.status}
      </p>

      {pending === null ? null : (
        <ConfirmDialog
          title={pending.kind === "move" ? `Move @${pending.alias}?` : `Delete @${pending.alias}?`}
          confirmLabel={pending.kind === "move" ? "Confirm" : "Delete alias"}
          fallbackFocus={() => statusLine.current}
          onClose={() => setPending(null)}
          action={async () => {
            if (pending.kind === "move") {
              await setAlias(model.name, pending.alias, pending.to);
              await props.refresh(`@${pending.alias} now points at version ${pending.to}.`);
            } else {
              await deleteAlias(model.name, pending.alias);
              await props.refresh(`@${pending.alias} deleted.`);
            }
          }}
        >
          {pending.kind === "move" ? (
            <p class="change" data-testid="alias-change">
              <strong>@{pending.alias}</strong>:{" "}
              <span class="nowrap">
                {pending.from === undefined ? "new alias" : `version ${pending.from}`}
              </span>{" "}
              → <span class="nowrap">version {pending.to}</span>
            </p>
          ) : (
            <p class="change" data-testid="alias-change">
              <strong>@{pending.alias}</strong>: <span class="nowrap">version {pending.from}</span>{" "}
              → <span class="nowrap">no version</span>
            </p>
          )}
          <p>
            {pending.kind === "move"
              ? `Deployments that follow models:/${model.name}@${pending.alias} will load version ${pending.to}.`
              : `models:/${model.name}@${pending.alias} will no longer resolve: running deployments that follow it keep the version they have, new ones fail to start.`}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
