// Presentation helpers: risk colours, times in Home Assistant's time zone, days of the timeline.
import type { CardEvent, HomeAssistant, RiskLevel } from "./types.js";

/** One colour per risk band (the server's bands: low 0-29, medium 30-59, high 60-84, critical 85-100). */
export const RISK_COLOURS: Record<RiskLevel, string> = {
  low: "#43a047",
  medium: "#f9a825",
  high: "#ef6c00",
  critical: "#d50000",
};
export const UNSCORED_COLOUR = "#9e9e9e";

/** Lowest score of each band, for the "minimum risk" filter. */
export const RISK_FLOORS: [RiskLevel, number][] = [
  ["low", 0],
  ["medium", 30],
  ["high", 60],
  ["critical", 85],
];

export const riskColour = (level: RiskLevel | null | undefined): string =>
  (level && RISK_COLOURS[level]) || UNSCORED_COLOUR;

const language = (hass: HomeAssistant): string => hass.locale?.language ?? hass.language ?? "en";

/** Times as the user's profile shows them everywhere in Home Assistant: in the browser's zone when they
 * chose "local", else Home Assistant's; with 12 or 24 hours when they chose one (else as the language
 * has it; "system" is the browser's default, which is the language's here). */
const formatter = (hass: HomeAssistant, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat => {
  const locale = hass.locale;
  const timeZone = locale?.time_zone === "local" ? undefined : hass.config.time_zone;
  const hours: Intl.DateTimeFormatOptions =
    locale?.time_format === "24" ? { hourCycle: "h23" } : locale?.time_format === "12" ? { hourCycle: "h12" } : {};
  return new Intl.DateTimeFormat(language(hass), { timeZone, ...hours, ...options });
};

export const formatTime = (hass: HomeAssistant, iso: string): string =>
  formatter(hass, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(iso));

export const formatDateTime = (hass: HomeAssistant, iso: string): string =>
  formatter(hass, { dateStyle: "medium", timeStyle: "medium" }).format(new Date(iso));

/** The calendar day of a time in Home Assistant's zone, as a sortable key and a heading. */
export const dayOf = (hass: HomeAssistant, iso: string): { key: string; label: string } => {
  const date = new Date(iso);
  const key = formatter(hass, { year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  const label = formatter(hass, { weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(date);
  return { key, label };
};

/** Events (newest first) in runs of one day each. */
export const groupByDay = (
  hass: HomeAssistant,
  events: CardEvent[],
): { key: string; label: string; events: CardEvent[] }[] => {
  const groups: { key: string; label: string; events: CardEvent[] }[] = [];
  for (const event of events) {
    const day = dayOf(hass, event.started_at);
    const last = groups[groups.length - 1];
    if (last && last.key === day.key) last.events.push(event);
    else groups.push({ ...day, events: [event] });
  }
  return groups;
};

export const objectsText = (types: string[]): string => (types.length ? types.join(", ") : "activity");
