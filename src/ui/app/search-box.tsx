import { href, replace } from "./router.js";

/** A list's search box: what is typed goes into the address (`?q=`), so the list can be shared. */
export function SearchBox(props: { id: string; label: string; path: string; value: string }) {
  return (
    <div class="toolbar" role="search">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="search"
        value={props.value}
        onInput={(event) => replace(href(props.path, { q: event.currentTarget.value }))}
      />
    </div>
  );
}
