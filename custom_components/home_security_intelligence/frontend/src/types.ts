// The shapes the card reads: Home Assistant's frontend object (only what the card uses) and the
// integration's WebSocket answers (websocket_api.py is their one source).

export interface HassUser {
  id: string;
  name: string;
  is_admin: boolean;
}

export interface HassConnection {
  subscribeMessage<T>(
    callback: (message: T) => void,
    subscribeMessage: Record<string, unknown>,
  ): Promise<() => Promise<void>>;
}

export interface HomeAssistant {
  connection: HassConnection;
  /** False while the frontend's connection to Home Assistant is lost (a restart). */
  connected?: boolean;
  user?: HassUser;
  language: string;
  /** The user's profile: language, and how times are shown ("local": the browser's zone, "server":
   * Home Assistant's; "12" / "24" hours, or as the language or the system has it). */
  locale?: { language: string; time_zone?: "local" | "server"; time_format?: "language" | "system" | "12" | "24" };
  config: { time_zone: string };
  callWS<T>(message: Record<string, unknown>): Promise<T>;
  callService(domain: string, service: string, data?: Record<string, unknown>): Promise<unknown>;
  callApi<T>(method: "GET" | "POST" | "DELETE", path: string, data?: Record<string, unknown>): Promise<T>;
}

export type RiskLevel = "low" | "medium" | "high" | "critical";

export interface EventSummary {
  id: number;
  risk_score: number | null;
  risk_level: RiskLevel | null;
  summary: string | null;
  started_at: string;
  object_types: string[];
}

export interface CardCamera {
  id: string;
  name: string;
  status: "online" | "offline" | "error";
  last_seen_at: string | null;
  last_event: EventSummary | null;
  last_detection_id: number | null;
  snapshot_url: string | null;
  detection_url: string | null;
}

export interface CardZone {
  id: string;
  camera_id: string;
  name: string;
  zone_type: string;
  coordinates: [number, number][];
  shape: string;
  color: string;
  enabled: boolean;
  priority: number;
  loitering_seconds?: number | null;
  loitering_classes?: string[] | null;
  subentry_id: string | null;
}

export interface CardAlert {
  id: string;
  event_id: number;
  severity: RiskLevel;
  status: "pending" | "delivered" | "acknowledged" | "dismissed";
  created_at: string;
  camera_id: string | null;
  summary: string | null;
  risk_score: number | null;
  object_types: string[];
  zone_ids: string[];
  thumbnail_url: string | null;
}

export interface CardServer {
  entry_id: string;
  title: string;
  cameras: CardCamera[];
  zones: CardZone[];
  alerts: CardAlert[];
  /** Why the server's open alerts could not be read (it is listed with what Home Assistant knows). */
  error: string | null;
}

export interface Overview {
  servers: CardServer[];
  url_ttl: number;
}

export interface CardEvent {
  id: number;
  camera_id: string;
  started_at: string;
  ended_at: string | null;
  risk_score: number | null;
  risk_level: RiskLevel | null;
  summary: string | null;
  reasoning: string | null;
  object_types: string[];
  reviewed: boolean;
  is_fast_path: boolean;
  has_clip: boolean;
  thumbnail_url: string | null;
  clip_url: string | null;
}

export interface EventsPage {
  entry_id: string;
  events: CardEvent[];
  next_cursor: string | null;
}

export interface CardDetection {
  id: number;
  object_type: string | null;
  confidence: number | null;
  detected_at: string | null;
  bbox: { x: number; y: number; width: number; height: number } | null;
  media_type: string | null;
  thumbnail_url: string | null;
}

export interface EventDetail {
  event: CardEvent;
  detections: CardDetection[];
  alerts: CardAlert[];
  zones: { id: string; name: string }[];
}

export type LiveMessage =
  | { kind: "event"; action: "created" | "updated"; entry_id: string; event: CardEvent }
  | { kind: "alert"; action: "created" | "updated"; entry_id: string; alert: CardAlert };

export interface CardConfig {
  type: string;
  title?: string;
  entry_id?: string;
  camera_id?: string;
  min_risk?: number;
  reviewed?: "all" | "unreviewed" | "reviewed";
  page_size?: number;
}
