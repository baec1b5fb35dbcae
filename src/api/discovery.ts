// The v1 discovery document (Google API Discovery format), written for this project from the
// facts of compatibility.md §7.9, plus the event stream (an extension). PATCH /machines and drain
// are not in it, as PATCH was not in the original.

const pageToken = {
  type: "string",
  location: "query",
  description: "The token of the page to return, from the previous page's nextPageToken.",
};

const unitName = { type: "string", location: "path", required: true, description: "The unit's name." };

const states = ["inactive", "loaded", "launched"];

const schemas = {
  Machine: {
    id: "Machine",
    type: "object",
    properties: {
      id: { type: "string", description: "The machine's ID (its /etc/machine-id)." },
      metadata: {
        type: "object",
        description: "The machine's metadata: configured, with dynamic metadata merged over it.",
        additionalProperties: { type: "string" },
      },
      primaryIP: { type: "string", description: "The machine's public IP address." },
    },
  },
  MachinePage: {
    id: "MachinePage",
    type: "object",
    properties: {
      machines: { type: "array", items: { $ref: "Machine" } },
      nextPageToken: { type: "string" },
    },
  },
  UnitOption: {
    id: "UnitOption",
    type: "object",
    properties: {
      name: { type: "string" },
      section: { type: "string" },
      value: { type: "string" },
    },
  },
  Unit: {
    id: "Unit",
    type: "object",
    properties: {
      currentState: {
        type: "string",
        enum: states,
        description: "Read-only. Derived from where the unit is scheduled and what that machine reports.",
      },
      desiredState: { type: "string", enum: states, description: "The state fleet should bring the unit to." },
      machineID: { type: "string", description: "Read-only. The machine the unit is scheduled on." },
      name: { type: "string", description: "The unit's name, e.g. hello.service." },
      options: { type: "array", items: { $ref: "UnitOption" }, description: "The unit file as options." },
    },
  },
  UnitPage: {
    id: "UnitPage",
    type: "object",
    properties: {
      nextPageToken: { type: "string" },
      units: { type: "array", items: { $ref: "Unit" } },
    },
  },
  UnitState: {
    id: "UnitState",
    type: "object",
    properties: {
      hash: { type: "string", description: "SHA-1 of the unit file loaded on the machine." },
      machineID: { type: "string", description: "The machine reporting this state." },
      name: { type: "string" },
      systemdActiveState: { type: "string" },
      systemdLoadState: { type: "string" },
      systemdSubState: { type: "string" },
      reason: { type: "string", description: "Extension: why the machine's agent refused the unit instead of giving it to systemd." },
    },
  },
  UnitStatePage: {
    id: "UnitStatePage",
    type: "object",
    properties: {
      nextPageToken: { type: "string" },
      states: { type: "array", items: { $ref: "UnitState" } },
    },
  },
};

const resources = {
  Machines: {
    methods: {
      List: {
        id: "fleet.Machine.List",
        description: "Retrieve a page of Machine objects.",
        httpMethod: "GET",
        path: "machines",
        parameters: { nextPageToken: pageToken },
        response: { $ref: "MachinePage" },
      },
    },
  },
  Units: {
    methods: {
      List: {
        id: "fleet.Unit.List",
        description: "Retrieve a page of Unit objects.",
        httpMethod: "GET",
        path: "units",
        parameters: { nextPageToken: pageToken },
        response: { $ref: "UnitPage" },
      },
      Get: {
        id: "fleet.Unit.Get",
        description: "Retrieve a single Unit object.",
        httpMethod: "GET",
        path: "units/{unitName}",
        parameters: { unitName },
        parameterOrder: ["unitName"],
        response: { $ref: "Unit" },
      },
      Delete: {
        id: "fleet.Unit.Delete",
        description: "Delete the referenced Unit object.",
        httpMethod: "DELETE",
        path: "units/{unitName}",
        parameters: { unitName },
        parameterOrder: ["unitName"],
      },
      Set: {
        id: "fleet.Unit.Set",
        description: "Create a new Unit, replace its options, or change its desired state.",
        httpMethod: "PUT",
        path: "units/{unitName}",
        parameters: { unitName },
        parameterOrder: ["unitName"],
        request: { $ref: "Unit" },
      },
    },
  },
  Events: {
    methods: {
      List: {
        id: "fleet.Event.List",
        description:
          "Extension: the cluster's events as Server-Sent Events (text/event-stream), one JSON object per message, " +
          "each with its id (REVISION-INDEX), revision and kind. Resume with Last-Event-ID or since.",
        httpMethod: "GET",
        path: "events",
        parameters: {
          since: { type: "string", location: "query", description: "Start after this event id or revision, or at the oldest event the daemon keeps (oldest); the Last-Event-ID header wins." },
          until: { type: "string", location: "query", description: "now: end the stream once it has told what happened before it opened." },
          unit: { type: "string", location: "query", repeated: true, description: "Only events about these units (names or globs, comma-separated)." },
          machine: { type: "string", location: "query", repeated: true, description: "Only events naming these machines (ids or prefixes, comma-separated)." },
          kinds: { type: "string", location: "query", repeated: true, description: "Only events of these kinds (comma-separated)." },
        },
      },
    },
  },
  UnitState: {
    methods: {
      Get: {
        id: "fleet.UnitState.Get",
        description: "Retrieve one machine's state of a unit.",
        httpMethod: "GET",
        path: "state/{unitName}",
        parameters: { unitName },
        parameterOrder: ["unitName"],
        response: { $ref: "UnitState" },
      },
      List: {
        id: "fleet.UnitState.List",
        description: "Retrieve a page of UnitState objects, optionally filtered.",
        httpMethod: "GET",
        path: "state",
        parameters: {
          nextPageToken: pageToken,
          unitName: { type: "string", location: "query", description: "Only states of this unit." },
          machineID: { type: "string", location: "query", description: "Only states reported by this machine." },
        },
        response: { $ref: "UnitStatePage" },
      },
    },
  },
};

/** The document itself: `$ENDPOINT` is deliberately left for clients to replace. */
export const DISCOVERY_DOCUMENT = {
  kind: "discovery#restDescription",
  discoveryVersion: "v1",
  id: "fleet:v1",
  name: "schema",
  version: "v1",
  title: "fleet API",
  description: "Schedule and inspect systemd units across a cluster of machines.",
  documentationLink: "http://github.com/coreos/fleet",
  protocol: "rest",
  baseUrl: "$ENDPOINT/fleet/v1/",
  basePath: "/fleet/v1/",
  rootUrl: "$ENDPOINT/",
  servicePath: "fleet/v1/",
  batchPath: "batch",
  schemas,
  resources,
};

/** The served text, computed once. */
export const DISCOVERY_JSON: string = `${JSON.stringify(DISCOVERY_DOCUMENT, null, 2)}\n`;
