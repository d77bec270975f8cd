// The card's test harness: a stand-in Home Assistant (callWS / callService / subscribe: what cannot
// run here) and the card mounted in happy-dom.
import { vi } from "vitest";
import type { CardAlert, CardEvent, CardServer, EventDetail, LiveMessage, Overview } from "../src/types.js";

if (!customElements.get("home-assistant")) customElements.define("home-assistant", class extends HTMLElement {});
await import("../src/card.js");

export const flush = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
};

export const ev = (id: number, extra: Partial<CardEvent> = {}): CardEvent => ({
  id,
  camera_id: "front",
  started_at: new Date(Date.UTC(2025, 0, 15, 12, 0, 0) - id * 60000).toISOString(),
  ended_at: null,
  risk_score: 10,
  risk_level: "low",
  summary: `event ${id}`,
  reasoning: null,
  object_types: ["person"],
  reviewed: false,
  is_fast_path: false,
  has_clip: false,
  thumbnail_url: null,
  clip_url: null,
  ...extra,
});

export const alert = (id: string, eventId: number, extra: Partial<CardAlert> = {}): CardAlert => ({
  id,
  event_id: eventId,
  severity: "high",
  status: "pending",
  created_at: "2025-01-15T12:00:00Z",
  camera_id: "front",
  summary: "someone",
  risk_score: 70,
  object_types: ["person"],
  zone_ids: [],
  thumbnail_url: null,
  ...extra,
});

export const server = (entry_id = "E1", extra: Partial<CardServer> = {}): CardServer => ({
  entry_id,
  title: "HSI",
  cameras: [
    { id: "front", name: "Front", status: "online", last_seen_at: null, last_event: null, last_detection_id: null, snapshot_url: null, detection_url: null },
  ],
  zones: [],
  alerts: [],
  error: null,
  ...extra,
});

export interface Fake {
  hass: any;
  live: (m: LiveMessage) => void;
  callWS: ReturnType<typeof vi.fn>;
  callService: ReturnType<typeof vi.fn>;
}

export function fakeHass(opts: {
  overview?: Overview;
  events?: (msg: any) => Promise<any> | any;
  event?: (msg: any) => Promise<EventDetail> | EventDetail;
  service?: (...a: any[]) => Promise<unknown>;
} = {}): Fake {
  let liveCb: (m: LiveMessage) => void = () => undefined;
  const overview = opts.overview ?? { servers: [server()], url_ttl: 3600 };
  const callWS = vi.fn(async (msg: any) => {
    if (msg.type.endsWith("/overview")) return overview;
    if (msg.type.endsWith("/events")) return opts.events ? opts.events(msg) : { entry_id: "E1", events: [], next_cursor: null };
    if (msg.type.endsWith("/event")) return opts.event!(msg);
    throw new Error(`unexpected ${msg.type}`);
  });
  const callService = vi.fn(opts.service ?? (async () => undefined));
  const hass = {
    language: "en",
    locale: { language: "en" },
    config: { time_zone: "UTC" },
    user: { id: "u", name: "u", is_admin: false },
    callWS,
    callService,
    callApi: vi.fn(),
    connection: {
      subscribeMessage: vi.fn(async (cb: any) => {
        liveCb = cb;
        return async () => undefined;
      }),
    },
  };
  return { hass, live: (m) => liveCb(m), callWS, callService };
}

export async function mount(fake: Fake, config: Record<string, unknown> = {}): Promise<any> {
  const card = document.createElement("home-security-intelligence-card") as any;
  card.setConfig({ type: "custom:home-security-intelligence-card", ...config });
  card.hass = fake.hass;
  document.body.appendChild(card);
  await flush();
  await card.updateComplete;
  return card;
}

export const q = (card: any, sel: string): HTMLElement | null => card.shadowRoot.querySelector(sel);
export const qa = (card: any, sel: string): HTMLElement[] => [...card.shadowRoot.querySelectorAll(sel)];
