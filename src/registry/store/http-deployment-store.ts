import { validateDeploymentId } from "./deployment-rules.js";
import type { RegistryHttpClient } from "./http-client.js";
import type { Deployment, DeploymentHeartbeat, DeploymentStore } from "./types.js";

/** Deployment heartbeats kept by a registry server, over its JSON API. */
export class HttpDeploymentStore implements DeploymentStore {
  constructor(private readonly client: RegistryHttpClient) {}

  // Async, so that an id refused before any request rejects the promise (as the SQL stores do).

  async reportDeployment(heartbeat: DeploymentHeartbeat): Promise<void> {
    const { id, ...body } = heartbeat;
    await this.client.request("PUT", `/deployments/${validateDeploymentId(id)}`, { body });
  }

  async listDeployments(): Promise<Deployment[]> {
    return this.client.request("GET", "/deployments");
  }

  async removeDeployment(id: string): Promise<void> {
    await this.client.request("DELETE", `/deployments/${validateDeploymentId(id)}`);
  }
}
