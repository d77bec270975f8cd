// Everything the card asks of Home Assistant. Reads go through the integration's WebSocket
// commands, changes through its actions and the zone subentry flow: the card never sees the
// server or its key.
import type {
  CardZone,
  EventDetail,
  EventsPage,
  HomeAssistant,
  LiveMessage,
  Overview,
} from "./types.js";

export const DOMAIN = "home_security_intelligence";
/** Events per timeline page unless the card's configuration says otherwise. */
export const DEFAULT_PAGE_SIZE = 50;
/** The largest page the integration gives (its `events` command's limit). */
export const MAX_PAGE_SIZE = 100;

export const fetchOverview = (hass: HomeAssistant): Promise<Overview> =>
  hass.callWS<Overview>({ type: `${DOMAIN}/overview` });

export interface EventFilters {
  camera_id?: string;
  min_risk?: number;
  reviewed?: boolean;
}

/** A page of events; without an entry id, of the only server (so the first page need not wait). */
export const fetchEvents = (
  hass: HomeAssistant,
  entryId: string | undefined,
  filters: EventFilters,
  limit: number,
  cursor?: string | null,
): Promise<EventsPage> =>
  hass.callWS<EventsPage>({
    type: `${DOMAIN}/events`,
    ...(entryId ? { entry_id: entryId } : {}),
    limit,
    ...filters,
    ...(cursor ? { cursor } : {}),
  });

export const fetchEvent = (hass: HomeAssistant, entryId: string, eventId: number): Promise<EventDetail> =>
  hass.callWS<EventDetail>({ type: `${DOMAIN}/event`, entry_id: entryId, event_id: eventId });

export const subscribeLive = (
  hass: HomeAssistant,
  callback: (message: LiveMessage) => void,
): Promise<() => Promise<void>> =>
  hass.connection.subscribeMessage<LiveMessage>(callback, { type: `${DOMAIN}/subscribe` });

export const alertAction = (
  hass: HomeAssistant,
  entryId: string,
  alertId: string,
  action: "acknowledge_alert" | "dismiss_alert",
): Promise<unknown> =>
  hass.callService(DOMAIN, action, { config_entry_id: entryId, alert_id: alertId });

export const reviewEvent = (
  hass: HomeAssistant,
  entryId: string,
  eventId: number,
  reviewed: boolean,
): Promise<unknown> =>
  hass.callService(DOMAIN, "review_event", { config_entry_id: entryId, event_id: eventId, reviewed });

interface FlowResult {
  flow_id: string;
  type: "form" | "create_entry" | "abort";
  errors?: Record<string, string> | null;
  reason?: string;
  description_placeholders?: Record<string, string> | null;
}

/** A zone being drawn or edited: what the card edits (name, type, points) and what it keeps. */
export interface ZoneDraft {
  camera_id: string;
  name: string;
  zone_type: string;
  points: [number, number][];
  color: string;
  priority: number;
  shape: string;
  enabled: boolean;
  loitering_seconds: number | null;
  loitering_classes: string[] | null;
  subentry_id: string | null;
}

/** "x,y x,y ..." with 4 decimals: the coordinate text the zone flow parses. */
export const coordinatesText = (points: [number, number][]): string =>
  points.map(([x, y]) => `${round(x)},${round(y)}`).join(" ");

const round = (value: number): number => Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000;

const rgb = (hex: string): number[] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/**
 * Save a zone through the integration's zone subentry flow (the one Settings → Devices & services
 * runs): a new zone through its "user" step, an existing one through "reconfigure". The flow
 * writes the zone on the server and keeps the subentry; its errors come back as they would in the
 * form. Needs an administrator, like every config flow.
 */
export async function saveZone(hass: HomeAssistant, entryId: string, draft: ZoneDraft): Promise<void> {
  const start = await hass.callApi<FlowResult>("POST", "config/config_entries/subentries/flow", {
    handler: [entryId, "zone"],
    ...(draft.subentry_id ? { subentry_id: draft.subentry_id } : {}),
  });
  if (start.type !== "form") throw new Error(start.reason ?? "the zone form did not open");
  const result = await hass.callApi<FlowResult>("POST", `config/config_entries/subentries/flow/${start.flow_id}`, {
    ...(draft.subentry_id ? {} : { camera_id: draft.camera_id }),
    name: draft.name,
    zone_type: draft.zone_type,
    coordinates: coordinatesText(draft.points),
    shape: draft.shape,
    color: rgb(draft.color),
    enabled: draft.enabled,
    priority: draft.priority,
    // What the card does not edit stays as it is (the flow takes a missing field for none).
    ...(draft.loitering_seconds ? { loitering_seconds: draft.loitering_seconds } : {}),
    ...(draft.loitering_classes?.length ? { loitering_classes: draft.loitering_classes } : {}),
  });
  if (result.type === "form") {
    const errors = Object.entries(result.errors ?? {}).map(([field, code]) => `${field}: ${code}`);
    const message = result.description_placeholders?.message;
    throw new Error([...errors, message].filter(Boolean).join("; ") || "the server refused the zone");
  }
  if (result.type === "abort" && result.reason !== "reconfigure_successful") {
    throw new Error(result.reason ?? "aborted");
  }
}

/** Remove a zone's subentry; the integration deletes the zone on the server. */
export const deleteZone = (hass: HomeAssistant, entryId: string, zone: CardZone): Promise<unknown> =>
  hass.callWS({ type: "config_entries/subentries/delete", entry_id: entryId, subentry_id: zone.subentry_id });
