/**
 * A small kube-apiserver stand-in on 127.0.0.1 that speaks the real list, watch and write
 * protocol, so the code under test talks to it over a socket exactly as it talks to a cluster.
 * Resources are a table (StatefulSets, Services, Namespaces, Leases, Events and
 * HorizontalPodAutoscalers are served from the start; a test adds custom resources with `serveResource`, as installing a CRD does).
 * Tests drive it: change objects (bumping one global resourceVersion), send bookmarks, drop or
 * stall watches, compact history (410 Gone), fail or delay reads and writes.
 *
 * Matches what real servers do where it matters:
 * - list items carry no apiVersion/kind; watch event objects and GETs do;
 * - a watch from a resourceVersion older than the history gets a 200 stream with one ERROR event
 *   holding a Status `code: 410, reason: Expired`, then the stream ends;
 * - BOOKMARK events only go to watches that asked with allowWatchBookmarks=true;
 * - a watch ends cleanly after its timeoutSeconds;
 * - a missing object is a 404 Status with reason NotFound; a resource that is not served (a CRD
 *   not installed) is a 404 "the server could not find the requested resource";
 * - create of an existing name is 409 AlreadyExists; an update whose resourceVersion is stale is
 *   409 Conflict; writes bump resourceVersion and are seen by watches;
 * - `labelSelector` (equality and existence terms) filters lists and watches.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createKubeConfigForServer, type KubeConfig } from "../../src/kube/client.js";

/** A resource's plural name, as in its URL (`statefulsets`, `policyreports`). */
export type FakeResource = string;

type JsonObject = Record<string, unknown>;
type EventType = "ADDED" | "MODIFIED" | "DELETED";

/** What the server knows of one resource, as its discovery document would say. */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const BUILTIN_RESOURCES: Readonly<Record<string, ResourceType>> = {
  statefulsets: { group: "apps", version: "v1", kind: "StatefulSet", namespaced: true },
  services: { group: "", version: "v1", kind: "Service", namespaced: true },
  namespaces: { group: "", version: "v1", kind: "Namespace", namespaced: false },
  events: { group: "", version: "v1", kind: "Event", namespaced: true },
  leases: { group: "coordination.k8s.io", version: "v1", kind: "Lease", namespaced: true },
  horizontalpodautoscalers: {
    group: "autoscaling",
    version: "v2",
    kind: "HorizontalPodAutoscaler",
    namespaced: true,
  },
};

interface StoredEvent {
  readonly resource: FakeResource;
  readonly resourceVersion: number;
  readonly type: EventType;
  readonly object: JsonObject;
}

interface Watcher {
  readonly resource: FakeResource;
  readonly namespace: string | null;
  readonly selector: LabelSelector;
  readonly response: http.ServerResponse;
  readonly bookmarks: boolean;
  stalled: boolean;
  timer?: NodeJS.Timeout;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** The parsed request body of a write (null for reads). */
  readonly body: unknown;
}

/** What the next watch of a resource gets instead of its events. */
export type WatchFault =
  | { readonly kind: "error-event"; readonly code: number; readonly reason: string }
  | { readonly kind: "http"; readonly status: number; readonly reason: string };

/** A write the fake refuses: answered with this Status instead of being applied. */
export interface FakeStatusError {
  readonly status: number;
  readonly reason: string;
  readonly message: string;
  /** details.causes, as the API server lists them (e.g. FieldManagerConflict). */
  readonly causes?: readonly { reason: string; message: string; field: string }[];
}

/** Thrown by a patch handler to answer with a Status (e.g. 409 Conflict of server-side apply). */
export class FakeStatus extends Error implements FakeStatusError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly causes?: readonly { reason: string; message: string; field: string }[],
  ) {
    super(message);
  }
}

/**
 * A PATCH content type the fake understands: given the stored object (undefined when there is
 * none) and the request, returns the object to store, or throws a FakeStatus. Tests may add
 * their own (e.g. server-side apply) with `handlePatch`.
 */
export type PatchHandler = (
  current: JsonObject | undefined,
  body: unknown,
  context: {
    readonly query: Readonly<Record<string, string>>;
    readonly resource: FakeResource;
    readonly namespace: string;
    readonly name: string;
  },
) => JsonObject;

/** A parsed URL path: discovery, a collection or one object (with an optional subresource). */
interface Route {
  readonly resource: FakeResource;
  readonly type: ResourceType;
  /** null: across all namespaces (or a cluster-scoped resource). */
  readonly namespace: string | null;
  readonly name: string | null;
  readonly subresource: string | null;
}

type LabelSelector = readonly ((labels: Readonly<Record<string, string>>) => boolean)[];

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly types = new Map<FakeResource, ResourceType>(Object.entries(BUILTIN_RESOURCES));
  private readonly objects = new Map<FakeResource, Map<string, JsonObject>>();
  private history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly watchFaults = new Map<FakeResource, WatchFault[]>();
  private readonly watchRefusals = new Map<FakeResource, number>();
  private readonly writeFaults: (FakeStatusError & { resource?: FakeResource })[] = [];
  private readonly patchHandlers = new Map<string, PatchHandler>([
    ["application/merge-patch+json", (current, body) => mergePatch(current ?? {}, body)],
    // Close enough for the maps tests write: lists are replaced, as in a merge patch.
    ["application/strategic-merge-patch+json", (current, body) => mergePatch(current ?? {}, body)],
  ]);
  private readonly watchesEndAtOnce = new Set<FakeResource>();
  private createTransform:
    ((object: JsonObject, query: Readonly<Record<string, string>>) => JsonObject) | null = null;
  private streamAnswers = false;
  private currentVersion = 1000;
  private compactedVersion = 0;
  /** How new watch requests are served: normally, accepted but silent, or not at all. */
  private newWatches: "answered" | "quiet" | "unanswered" = "answered";
  private listFailure: number | null = null;
  private readFailure: { status: number; reason: string } | null = null;
  private readDelayMs = 0;
  private versionBody: unknown = { major: "1", minor: "30", gitVersion: "v1.30.2" };
  private port = 0;

  private constructor() {
    this.server = http.createServer((request, response) => {
      this.receive(request, response);
    });
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => {
        this.sockets.delete(socket);
      });
    });
  }

  static async start(): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at this server (plain HTTP needs skipTLSVerify in client-node). */
  kubeConfig(token?: string): KubeConfig {
    return createKubeConfigForServer(this.url, { skipTLSVerify: true, token });
  }

  resourceVersion(): string {
    return String(this.currentVersion);
  }

  /** Serves another resource from now on, as installing its CRD does. */
  serveResource(resource: FakeResource, type: ResourceType): void {
    this.types.set(resource, type);
  }

  /** Stops serving a resource (its CRD deleted): its URLs answer 404 again. */
  stopServing(resource: FakeResource): void {
    this.types.delete(resource);
    this.objects.delete(resource);
  }

  /** Handles PATCH requests of this Content-Type (e.g. `application/apply-patch+yaml`). */
  handlePatch(contentType: string, handler: PatchHandler): void {
    this.patchHandlers.set(contentType, handler);
  }

  /** Changes every created object before it is stored (e.g. to record its field manager). */
  transformCreates(
    transform: (object: JsonObject, query: Readonly<Record<string, string>>) => JsonObject,
  ): void {
    this.createTransform = transform;
  }

  /**
   * The next writes (create, update, patch, delete) fail this way, one fault per write; with
   * `resource`, only writes of that resource.
   */
  failNextWrite(fault: FakeStatusError, resource?: FakeResource): void {
    this.writeFaults.push({ ...fault, ...(resource ? { resource } : {}) });
  }

  /** The stored objects of a resource (copies), sorted by namespace/name. */
  list(resource: FakeResource, namespace?: string): JsonObject[] {
    return [...this.store(resource).entries()]
      .filter(([key]) => namespace === undefined || key.startsWith(`${namespace}/`))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, item]) => this.withTypeMeta(resource, structuredClone(item)));
  }

  /** One stored object (a copy), or undefined. */
  get(resource: FakeResource, namespace: string, name: string): JsonObject | undefined {
    const found = this.store(resource).get(`${namespace}/${name}`);
    return found ? this.withTypeMeta(resource, structuredClone(found)) : undefined;
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns its new resourceVersion. */
  apply(resource: FakeResource, object: JsonObject): string {
    // Stored without apiVersion/kind: list items carry none, GETs and events add them back.
    const copy = structuredClone(object);
    delete copy["apiVersion"];
    delete copy["kind"];
    const metadata = (copy["metadata"] ??= {}) as JsonObject;
    const key = `${stringOf(metadata["namespace"])}/${stringOf(metadata["name"])}`;
    const type: EventType = this.store(resource).has(key) ? "MODIFIED" : "ADDED";
    this.currentVersion += 1;
    metadata["resourceVersion"] = String(this.currentVersion);
    // Unique per creation, as real uids are: a re-created object is another object.
    metadata["uid"] ??= `uid-${resource}-${key}-${this.currentVersion}`;
    metadata["creationTimestamp"] ??= new Date(0).toISOString();
    this.store(resource).set(key, copy);
    this.publish({ resource, resourceVersion: this.currentVersion, type, object: copy });
    return String(this.currentVersion);
  }

  /** Changes an object in place through `change`, as an update would. */
  update(
    resource: FakeResource,
    namespace: string,
    name: string,
    change: (obj: JsonObject) => void,
  ): string {
    const current = this.store(resource).get(`${namespace}/${name}`);
    if (!current) throw new Error(`fake apiserver: no ${resource} ${namespace}/${name}`);
    const copy = structuredClone(current);
    change(copy);
    return this.apply(resource, copy);
  }

  remove(resource: FakeResource, namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    const current = this.store(resource).get(key);
    if (!current) throw new Error(`fake apiserver: no ${resource} ${key}`);
    this.store(resource).delete(key);
    this.currentVersion += 1;
    const object = structuredClone(current);
    (object["metadata"] as JsonObject)["resourceVersion"] = String(this.currentVersion);
    this.publish({ resource, resourceVersion: this.currentVersion, type: "DELETED", object });
    return String(this.currentVersion);
  }

  /** Sends a BOOKMARK at the current resourceVersion to watches that asked for bookmarks. */
  sendBookmark(resource?: FakeResource): void {
    for (const watcher of this.liveWatchers(resource)) {
      if (!watcher.bookmarks) continue;
      const object = this.withTypeMeta(watcher.resource, {
        metadata: { resourceVersion: this.resourceVersion() },
      });
      writeEvent(watcher.response, "BOOKMARK", object);
    }
  }

  /** Destroys the sockets of open watches without ending the response, as a dead link does. */
  dropWatches(resource?: FakeResource): void {
    for (const watcher of [...this.watchers]) {
      if (resource && watcher.resource !== resource) continue;
      this.forget(watcher);
      watcher.response.socket?.destroy();
    }
  }

  /** Forgets the event history: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedVersion = this.currentVersion;
  }

  /** The next watch of `resource` fails this way (queued; one fault per watch). */
  failNextWatch(resource: FakeResource, fault: WatchFault): void {
    const faults = this.watchFaults.get(resource) ?? [];
    faults.push(fault);
    this.watchFaults.set(resource, faults);
  }

  /** Every watch of `resource` is refused with this HTTP status until called with null. */
  refuseWatches(resource: FakeResource, status: number | null): void {
    if (status === null) this.watchRefusals.delete(resource);
    else this.watchRefusals.set(resource, status);
  }

  /** Objects and list pages are sent without a Content-Length, in chunks (true), or with one. */
  streamObjectAnswers(streamed = true): void {
    this.streamAnswers = streamed;
  }

  /** Every watch of `resource` gets a 200 that ends at once with no event, until called with false. */
  endWatchesAtOnce(resource: FakeResource, ending = true): void {
    if (ending) this.watchesEndAtOnce.add(resource);
    else this.watchesEndAtOnce.delete(resource);
  }

  /**
   * The API server stops answering watches (it hangs, or a proxy swallows them): open watches
   * receive nothing more, and new watch requests get no answer at all, not even headers.
   * Watches asked for after stallWatches(false) are answered again.
   */
  stallWatches(stalled = true): void {
    this.newWatches = stalled ? "unanswered" : "answered";
    if (stalled) for (const watcher of this.watchers) watcher.stalled = true;
  }

  /**
   * Watches are accepted (200 and headers) but carry nothing, not even a bookmark, as a real
   * 1.26 API server's watch of a resource nobody changes (bookmarks are best effort).
   */
  quietWatches(quiet = true): void {
    this.newWatches = quiet ? "quiet" : "answered";
    if (quiet) for (const watcher of this.watchers) watcher.stalled = true;
  }

  /** Lists across all namespaces answer this HTTP status (null: normal). */
  failLists(status: number | null): void {
    this.listFailure = status;
  }

  /** Namespaced GETs and lists (the live reads) and /version answer this (null: normal). */
  failReads(status: number | null, reason = "InternalError"): void {
    this.readFailure = status === null ? null : { status, reason };
  }

  /** Namespaced GETs and lists and /version wait this long before answering. */
  delayReads(ms: number): void {
    this.readDelayMs = ms;
  }

  setVersion(body: unknown): void {
    this.versionBody = body;
  }

  activeWatches(resource?: FakeResource): number {
    return [...this.watchers].filter((w) => !resource || w.resource === resource).length;
  }

  /** Open watches that are not stalled. */
  liveWatches(resource?: FakeResource): number {
    return this.liveWatchers(resource).length;
  }

  openConnections(): number {
    return this.sockets.size;
  }

  watchRequests(resource: FakeResource): RecordedRequest[] {
    return this.requests.filter((r) => r.watch && this.routeOf(r)?.resource === resource);
  }

  /** Lists across all namespaces (what a cache's list+watch sends), not live reads. */
  listRequests(resource: FakeResource): RecordedRequest[] {
    return this.requests.filter((r) => {
      const route = r.method === "GET" && !r.watch ? this.routeOf(r) : null;
      return route?.resource === resource && route.namespace === null && route.name === null;
    });
  }

  /** Namespaced GETs and lists: the live reads. */
  readRequests(): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === "GET" && !r.watch && (this.routeOf(r)?.namespace ?? null) !== null,
    );
  }

  /** GETs (not watches) of exactly `path`, e.g. `/api/v1/namespaces/demo` (cluster-scoped reads). */
  getRequests(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "GET" && !r.watch && r.path === path);
  }

  /** Creates, updates, patches and deletes, optionally of one resource. */
  writeRequests(resource?: FakeResource): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method !== "GET" && (!resource || this.routeOf(r)?.resource === resource),
    );
  }

  async close(): Promise<void> {
    for (const watcher of [...this.watchers]) this.forget(watcher);
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private store(resource: FakeResource): Map<string, JsonObject> {
    let objects = this.objects.get(resource);
    if (!objects) {
      objects = new Map();
      this.objects.set(resource, objects);
    }
    return objects;
  }

  private routeOf(request: RecordedRequest): Route | null {
    return this.route(request.path);
  }

  /**
   * `/api/v1/...` or `/apis/<group>/<version>/...`, then `namespaces/<ns>/<resource>[/<name>
   * [/<subresource>]]` or `<resource>[/<name>[/<subresource>]]`. `/api/v1/namespaces/<name>` is
   * the Namespace object itself.
   */
  private route(path: string): Route | null {
    const prefix =
      /^\/api\/(v1)(?:\/(.*))?$/.exec(path) ?? /^\/apis\/([^/]+)\/([^/]+)\/(.*)$/.exec(path);
    if (!prefix) return null;
    const [group, version, rest] = path.startsWith("/api/")
      ? ["", prefix[1] ?? "", prefix[2] ?? ""]
      : [prefix[1] ?? "", prefix[2] ?? "", prefix[3] ?? ""];
    const segments = rest
      .split("/")
      .filter((s) => s !== "")
      .map(decodeURIComponent);
    let namespace: string | null = null;
    if (segments[0] === "namespaces" && segments.length >= 3) {
      namespace = segments[1] ?? null;
      segments.splice(0, 2);
    }
    const [resource, name, subresource, ...extra] = segments;
    if (!resource || extra.length > 0) return null;
    const type = this.types.get(resource);
    if (!type || type.group !== group || type.version !== version) return null;
    if (!type.namespaced && namespace !== null) return null;
    return { resource, type, namespace, name: name ?? null, subresource: subresource ?? null };
  }

  private receive(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = null;
      if (text !== "") {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text; // YAML or other text: a patch handler may parse it
        }
      }
      this.handle(request, body, response);
    });
  }

  private handle(
    request: http.IncomingMessage,
    body: unknown,
    response: http.ServerResponse,
  ): void {
    const url = new URL(request.url ?? "/", this.url);
    const query = Object.fromEntries(url.searchParams);
    const watch = query["watch"] === "true" || query["watch"] === "1";
    const method = request.method ?? "GET";
    const contentType = request.headers["content-type"]?.split(";")[0]?.trim();
    this.requests.push({
      method,
      path: url.pathname,
      query,
      watch,
      authorization: request.headers.authorization,
      contentType,
      body: method === "GET" ? null : body,
    });
    if (url.pathname === "/version") {
      this.answerRead(response, () => {
        sendJson(response, 200, this.versionBody);
      });
      return;
    }
    if (method === "GET" && this.sendDiscovery(url.pathname, response)) return;
    const route = this.route(url.pathname);
    if (!route || route.subresource !== null) {
      const status = aStatus(404, "NotFound", "the server could not find the requested resource");
      sendJson(response, 404, { ...status, details: {} });
      return;
    }
    if (method === "GET") {
      this.handleGet(route, query, watch, response);
      return;
    }
    this.handleWrite(method, route, query, contentType, body, response);
  }

  private handleGet(
    route: Route,
    query: Record<string, string>,
    watch: boolean,
    response: http.ServerResponse,
  ): void {
    if (route.name === null && watch) {
      this.startWatch(route, query, response);
      return;
    }
    if (route.name === null && route.namespace === null) {
      this.sendList(route, query, response);
      return;
    }
    // Namespaced GETs and lists: the reads that failReads and delayReads affect.
    this.answerRead(response, () => {
      if (route.name === null) this.sendList(route, query, response);
      else this.sendObject(route, response);
    });
  }

  private answerRead(response: http.ServerResponse, answer: () => void): void {
    const respond = (): void => {
      if (response.destroyed) return;
      if (this.readFailure) {
        const { status, reason } = this.readFailure;
        sendJson(response, status, aStatus(status, reason, "etcd is down"));
      } else {
        answer();
      }
    };
    if (this.readDelayMs === 0) {
      respond();
      return;
    }
    const timer = setTimeout(respond, this.readDelayMs);
    // The client gave up (its deadline): nothing left to answer.
    response.on("close", () => {
      clearTimeout(timer);
    });
  }

  private handleWrite(
    method: string,
    route: Route,
    query: Record<string, string>,
    contentType: string | undefined,
    body: unknown,
    response: http.ServerResponse,
  ): void {
    const index = this.writeFaults.findIndex(
      (candidate) => candidate.resource === undefined || candidate.resource === route.resource,
    );
    const fault = index < 0 ? undefined : this.writeFaults.splice(index, 1)[0];
    if (fault) {
      sendJson(response, fault.status, aStatus(fault.status, fault.reason, fault.message));
      return;
    }
    const namespace = route.namespace ?? "";
    const dryRun = query["dryRun"] === "All";
    const result = this.write(method, route, namespace, query, contentType, body, dryRun);
    if ("reason" in result) {
      const details = {
        name: route.name ?? "",
        group: route.type.group,
        kind: route.resource,
        ...(result.causes ? { causes: result.causes } : {}),
      };
      sendJson(response, result.status, {
        ...aStatus(result.status, result.reason, result.message),
        details,
      });
      return;
    }
    sendJson(response, result.status, result.object);
  }

  private write(
    method: string,
    route: Route,
    namespace: string,
    query: Record<string, string>,
    contentType: string | undefined,
    body: unknown,
    dryRun: boolean,
  ): { status: number; object: JsonObject } | FakeStatusError {
    const { resource } = route;
    const objects = this.store(resource);
    const kindName = `${resource}${route.type.group ? `.${route.type.group}` : ""}`;
    const notFound = (name: string): FakeStatusError => ({
      status: 404,
      reason: "NotFound",
      message: `${kindName} "${name}" not found`,
    });
    const commit = (object: JsonObject, status: number): { status: number; object: JsonObject } => {
      const metadata = (object["metadata"] ??= {}) as JsonObject;
      if (route.type.namespaced) metadata["namespace"] = namespace;
      if (dryRun) return { status, object: this.withTypeMeta(resource, object) };
      this.apply(resource, object);
      return { status, object: this.get(resource, namespace, String(metadata["name"])) ?? object };
    };

    if (method === "POST" && route.name === null) {
      if (!isObject(body)) return { status: 400, reason: "BadRequest", message: "no object" };
      const object = structuredClone(body);
      const metadata = (object["metadata"] ??= {}) as JsonObject;
      if (!metadata["name"] && typeof metadata["generateName"] === "string") {
        metadata["name"] = `${metadata["generateName"]}${(this.currentVersion + 1).toString(36)}`;
      }
      const name = stringOf(metadata["name"]);
      if (name === "")
        return { status: 422, reason: "Invalid", message: "metadata.name: Required value" };
      if (objects.has(`${namespace}/${name}`)) {
        return {
          status: 409,
          reason: "AlreadyExists",
          message: `${kindName} "${name}" already exists`,
        };
      }
      delete metadata["resourceVersion"];
      return commit(this.createTransform ? this.createTransform(object, query) : object, 201);
    }
    const name = route.name;
    if (name === null) return { status: 405, reason: "MethodNotAllowed", message: method };
    const current = objects.get(`${namespace}/${name}`);
    if (method === "DELETE") {
      if (!current) return notFound(name);
      const wantedUid =
        isObject(body) && isObject(body["preconditions"])
          ? body["preconditions"]["uid"]
          : undefined;
      const storedUid = (current["metadata"] as JsonObject)["uid"];
      if (wantedUid !== undefined && wantedUid !== storedUid) {
        return {
          status: 409,
          reason: "Conflict",
          // kube-apiserver 1.26's words (test/fixtures/apiserver-differences).
          message: `Operation cannot be fulfilled on ${route.type.kind} "${name}": the UID in the precondition (${stringOf(wantedUid)}) does not match the UID in record (${stringOf(storedUid)}). The object might have been deleted and then recreated`,
        };
      }
      const object = this.withTypeMeta(resource, structuredClone(current));
      if (!dryRun) this.remove(resource, namespace, name);
      return { status: 200, object };
    }
    if (method === "PUT") {
      if (!isObject(body)) return { status: 400, reason: "BadRequest", message: "no object" };
      if (!current) return notFound(name);
      const wanted = (body["metadata"] as JsonObject | undefined)?.["resourceVersion"];
      const stored = (current["metadata"] as JsonObject)["resourceVersion"];
      if (wanted !== undefined && wanted !== stored) {
        return {
          status: 409,
          reason: "Conflict",
          message: `Operation cannot be fulfilled on ${kindName} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        };
      }
      // As rest.BeforeUpdate: system fields the client left out are carried over.
      const replacement = structuredClone(body);
      const metadata = (replacement["metadata"] ??= {}) as JsonObject;
      const storedMetadata = current["metadata"] as JsonObject;
      metadata["uid"] ??= storedMetadata["uid"];
      metadata["creationTimestamp"] ??= storedMetadata["creationTimestamp"];
      return commit(replacement, 200);
    }
    if (method === "PATCH") {
      const handler = contentType ? this.patchHandlers.get(contentType) : undefined;
      if (!handler) {
        return {
          status: 415,
          reason: "UnsupportedMediaType",
          message: `the body of the request was in an unknown format - accepted media types include: ${[...this.patchHandlers.keys()].join(", ")}`,
        };
      }
      const existing = current ? this.withTypeMeta(resource, structuredClone(current)) : undefined;
      let patched: JsonObject;
      try {
        patched = handler(existing, body, { query, resource, namespace, name });
      } catch (error: unknown) {
        if (error instanceof FakeStatus) return error;
        throw error;
      }
      // A patch that changes nothing writes nothing: no new resourceVersion, no watch event.
      if (existing && JSON.stringify(patched) === JSON.stringify(existing)) {
        return { status: 200, object: existing };
      }
      if (
        "reason" in patched &&
        typeof patched["status"] === "number" &&
        !("metadata" in patched)
      ) {
        return patched as unknown as FakeStatusError;
      }
      if (!current && contentType !== "application/apply-patch+yaml") return notFound(name);
      const object = patched;
      ((object["metadata"] ??= {}) as JsonObject)["name"] = name;
      return commit(object, current ? 200 : 201);
    }
    return { status: 405, reason: "MethodNotAllowed", message: method };
  }

  /** `/api`, `/apis`, `/api/v1` and `/apis/<group>/<version>`: what is served. */
  private sendDiscovery(path: string, response: http.ServerResponse): boolean {
    const types = [...this.types.entries()];
    if (path === "/api") {
      sendJson(response, 200, { kind: "APIVersions", versions: ["v1"] });
      return true;
    }
    if (path === "/apis") {
      const groups = new Map<string, Set<string>>();
      for (const [, type] of types) {
        if (type.group === "") continue;
        const versions = groups.get(type.group) ?? new Set<string>();
        versions.add(type.version);
        groups.set(type.group, versions);
      }
      sendJson(response, 200, {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [...groups].map(([name, versions]) => {
          const list = [...versions].map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
          return { name, versions: list, preferredVersion: list[0] };
        }),
      });
      return true;
    }
    const groupVersion = path === "/api/v1" ? "v1" : /^\/apis\/([^/]+\/[^/]+)$/.exec(path)?.[1];
    if (!groupVersion) return false;
    const resources = types
      .filter(([, t]) => (t.group ? `${t.group}/${t.version}` : t.version) === groupVersion)
      .map(([name, t]) => ({
        name,
        singularName: t.kind.toLowerCase(),
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      }));
    if (resources.length === 0) {
      sendJson(
        response,
        404,
        aStatus(404, "NotFound", "the server could not find the requested resource"),
      );
      return true;
    }
    sendJson(response, 200, { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources });
    return true;
  }

  private sendObject(route: Route, response: http.ServerResponse): void {
    const name = route.name ?? "";
    const found = this.get(route.resource, route.namespace ?? "", name);
    if (!found) {
      const group = route.type.group ? `.${route.type.group}` : "";
      const status = aStatus(404, "NotFound", `${route.resource}${group} "${name}" not found`);
      const details = { name, group: route.type.group, kind: route.resource };
      sendJson(response, 404, { ...status, details });
      return;
    }
    sendJson(response, 200, found, this.streamAnswers);
  }

  private sendList(
    route: Route,
    query: Record<string, string>,
    response: http.ServerResponse,
  ): void {
    const { resource, namespace } = route;
    if (this.listFailure !== null && namespace === null) {
      sendJson(
        response,
        this.listFailure,
        aStatus(this.listFailure, "InternalError", "list failed"),
      );
      return;
    }
    const selector = parseLabelSelector(query["labelSelector"]);
    const token = query["continue"] ? decodeContinue(query["continue"]) : null;
    const items = [...this.store(resource).entries()]
      .filter(([key]) => namespace === null || key.startsWith(`${namespace}/`))
      .filter(([, item]) => matches(selector, item))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, item]) => structuredClone(item));
    const offset = token?.offset ?? 0;
    const limit = query["limit"] ? Number(query["limit"]) : items.length;
    const page = items.slice(offset, offset + limit);
    const listVersion = token?.resourceVersion ?? this.resourceVersion();
    const metadata: JsonObject = { resourceVersion: listVersion };
    if (offset + limit < items.length) {
      metadata["continue"] = encodeContinue({
        resourceVersion: listVersion,
        offset: offset + limit,
      });
    }
    const { kind } = route.type;
    const apiVersion = apiVersionOf(route.type);
    const list = { kind: `${kind}List`, apiVersion, metadata, items: page };
    sendJson(response, 200, list, this.streamAnswers);
  }

  private startWatch(
    route: Route,
    query: Record<string, string>,
    response: http.ServerResponse,
  ): void {
    const { resource } = route;
    const refusal = this.watchRefusals.get(resource);
    if (refusal !== undefined) {
      sendJson(response, refusal, aStatus(refusal, "InternalError", "watch refused"));
      return;
    }
    if (this.watchesEndAtOnce.has(resource)) {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end();
      return;
    }
    const fault = this.watchFaults.get(resource)?.shift();
    if (fault?.kind === "http") {
      sendJson(response, fault.status, aStatus(fault.status, fault.reason, "watch refused"));
      return;
    }
    // No answer: the request stays open until the client gives up (or close() cuts it).
    if (this.newWatches === "unanswered") return;
    response.writeHead(200, { "Content-Type": "application/json" });
    response.flushHeaders();
    const from = Number(query["resourceVersion"] ?? "0");
    if (fault?.kind === "error-event" || from < this.compactedVersion) {
      const code = fault?.code ?? 410;
      const reason = fault?.reason ?? "Expired";
      const message = `too old resource version: ${from} (${this.compactedVersion})`;
      writeEvent(response, "ERROR", aStatus(code, reason, message));
      response.end();
      return;
    }
    const watcher: Watcher = {
      resource,
      namespace: route.namespace,
      selector: parseLabelSelector(query["labelSelector"]),
      response,
      bookmarks: query["allowWatchBookmarks"] === "true",
      stalled: this.newWatches === "quiet",
    };
    this.watchers.add(watcher);
    response.on("close", () => {
      this.forget(watcher);
    });
    const timeoutSeconds = Number(query["timeoutSeconds"] ?? "0");
    if (timeoutSeconds > 0) {
      watcher.timer = setTimeout(() => {
        this.forget(watcher);
        response.end();
      }, timeoutSeconds * 1000);
    }
    if (watcher.stalled) return;
    for (const event of this.history) {
      if (event.resource === resource && event.resourceVersion > from && sees(watcher, event)) {
        writeEvent(response, event.type, this.withTypeMeta(resource, event.object));
      }
    }
  }

  private publish(event: StoredEvent): void {
    this.history.push(event);
    for (const watcher of this.liveWatchers(event.resource)) {
      if (!sees(watcher, event)) continue;
      writeEvent(watcher.response, event.type, this.withTypeMeta(event.resource, event.object));
    }
  }

  private liveWatchers(resource?: FakeResource): Watcher[] {
    return [...this.watchers].filter((w) => !w.stalled && (!resource || w.resource === resource));
  }

  private forget(watcher: Watcher): void {
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
  }

  private withTypeMeta(resource: FakeResource, object: JsonObject): JsonObject {
    const type = this.types.get(resource) ?? BUILTIN_RESOURCES[resource];
    if (!type) return object;
    return { ...object, apiVersion: apiVersionOf(type), kind: type.kind };
  }
}

function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

function stringOf(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): JsonObject {
  if (!isObject(patch)) return patch as JsonObject;
  const base = isObject(target) ? target : {};
  const removed = new Set(Object.keys(patch).filter((key) => patch[key] === null));
  const result: JsonObject = Object.fromEntries(
    Object.entries(base).filter(([key]) => !removed.has(key)),
  );
  for (const [key, value] of Object.entries(patch)) {
    if (value !== null) result[key] = isObject(value) ? mergePatch(result[key], value) : value;
  }
  return result;
}

/** Equality (`a=b`, `a==b`, `a!=b`) and existence (`a`, `!a`) terms, comma-separated. */
function parseLabelSelector(text: string | undefined): LabelSelector {
  if (!text) return [];
  return text.split(",").map((term) => {
    const t = term.trim();
    const notEqual = /^([^!=]+)!=(.*)$/.exec(t);
    if (notEqual) return (labels) => labels[notEqual[1]?.trim() ?? ""] !== notEqual[2]?.trim();
    const equal = /^([^!=]+)==?(.*)$/.exec(t);
    if (equal) return (labels) => labels[equal[1]?.trim() ?? ""] === equal[2]?.trim();
    if (t.startsWith("!")) return (labels) => !(t.slice(1) in labels);
    return (labels) => t in labels;
  });
}

function labelsOf(object: JsonObject): Record<string, string> {
  const labels = (object["metadata"] as JsonObject | undefined)?.["labels"];
  return isObject(labels) ? (labels as Record<string, string>) : {};
}

function matches(selector: LabelSelector, object: JsonObject): boolean {
  const labels = labelsOf(object);
  return selector.every((term) => term(labels));
}

function sees(watcher: Watcher, event: StoredEvent): boolean {
  const namespace = (event.object["metadata"] as JsonObject | undefined)?.["namespace"];
  if (watcher.namespace !== null && namespace !== watcher.namespace) return false;
  return matches(watcher.selector, event.object);
}

function writeEvent(response: http.ServerResponse, type: string, object: unknown): void {
  if (!response.destroyed) response.write(`${JSON.stringify({ type, object })}\n`);
}

/** `streamed`: no Content-Length, the body in 16 KiB chunks, as a proxy or a large list may be. */
function sendJson(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  streamed = false,
): void {
  const text = JSON.stringify(body);
  if (streamed) {
    response.writeHead(status, { "Content-Type": "application/json" });
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length; offset += 16 * 1024) {
      response.write(bytes.subarray(offset, offset + 16 * 1024));
    }
    response.end();
    return;
  }
  response.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  response.end(text);
}

function aStatus(code: number, reason: string, message: string): JsonObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
}

function encodeContinue(token: { resourceVersion: string; offset: number }): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeContinue(text: string): { resourceVersion: string; offset: number } {
  return JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as {
    resourceVersion: string;
    offset: number;
  };
}
