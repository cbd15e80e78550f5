import { segment, type RegistryHttpClient } from "./http-client.js";
import { validateAlias, validateKey, validateModelName } from "./names.js";
import type {
  CreateModelVersionInput,
  ModelRegistryStore,
  ModelVersion,
  RegisteredModel,
} from "./types.js";

const modelName = (name: string) => segment(name, () => void validateModelName(name));

/** The model-registry store of a registry server, over its JSON API (see RegistryHttpClient). */
export class HttpModelRegistryStore implements ModelRegistryStore {
  readonly description: string;

  constructor(private readonly client: RegistryHttpClient) {
    this.description = client.description;
  }

  // Every method is async, so that an argument refused before any request rejects the promise
  // (as with the SQL stores) instead of throwing synchronously.

  async createRegisteredModel(name: string, description?: string): Promise<RegisteredModel> {
    return this.client.request("POST", "/models", { body: { name, description } });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return this.client.request("GET", `/models/${modelName(name)}`);
  }

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    return this.client.request("GET", "/models");
  }

  async createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion> {
    const { name, ...body } = input;
    return this.client.request("POST", `/models/${modelName(name)}/versions`, { body });
  }

  async getModelVersion(name: string, version: number): Promise<ModelVersion> {
    return this.client.request("GET", `/models/${modelName(name)}/versions/${String(version)}`);
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    return this.client.request("GET", `/models/${modelName(name)}/versions`);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    await this.client.request("PUT", this.aliasPath(name, alias), { body: { version } });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.client.request("DELETE", this.aliasPath(name, alias));
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return this.client.request("GET", this.aliasPath(name, alias));
  }

  async setModelVersionTags(
    name: string,
    version: number,
    tags: Record<string, string>,
  ): Promise<void> {
    await this.client.request("POST", `${this.versionPath(name, version)}/tags`, {
      body: { tags },
    });
  }

  async deleteModelVersionTag(name: string, version: number, key: string): Promise<void> {
    const tag = segment(key, () => void validateKey("tag", key));
    await this.client.request("DELETE", `${this.versionPath(name, version)}/tags/${tag}`);
  }

  /** Nothing to release: fetch's connection pool closes idle sockets by itself. */
  async close(): Promise<void> {}

  private versionPath(name: string, version: number): string {
    return `/models/${modelName(name)}/versions/${String(version)}`;
  }

  private aliasPath(name: string, alias: string): string {
    return `/models/${modelName(name)}/aliases/${segment(alias, () => void validateAlias(alias))}`;
  }
}
