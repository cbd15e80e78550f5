import { RegistryHttpClient, type HttpStoreOptions } from "./http-client.js";
import { HttpDeploymentStore } from "./http-deployment-store.js";
import { HttpMonitorResultStore } from "./http-monitor-result-store.js";
import { HttpModelRegistryStore } from "./http-model-registry-store.js";
import { HttpTrackingStore } from "./http-tracking-store.js";
import { JoinedStore } from "./joined-store.js";

export type { HttpStoreOptions } from "./http-client.js";

/**
 * The registry store of a registry server (`mldeploy registry-server`), over its JSON API: its
 * tracking store and its model-registry store, joined over one client. Errors come back as the
 * RegistryError the server's store raised, with the same code and message, so callers cannot
 * tell a remote registry from a local one by its errors.
 */
export class HttpStore extends JoinedStore {
  constructor(options: HttpStoreOptions) {
    const client = new RegistryHttpClient(options);
    // Nothing to release: fetch's connection pool closes idle sockets by itself.
    super(
      new HttpTrackingStore(client),
      new HttpModelRegistryStore(client),
      async () => {},
      new HttpDeploymentStore(client),
      new HttpMonitorResultStore(client),
    );
  }
}
