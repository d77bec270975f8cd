// The card's visual editor: Home Assistant's own form element (ha-form, loaded with the dashboard
// editor), with the servers and cameras the integration knows as choices.
import { LitElement, html, type TemplateResult } from "lit";
import { property, state } from "lit/decorators.js";

import { DEFAULT_PAGE_SIZE, fetchOverview } from "./api.js";
import { RISK_FLOORS } from "./format.js";
import type { CardConfig, HomeAssistant, Overview } from "./types.js";

const LABELS: Record<string, string> = {
  title: "Title",
  entry_id: "Server",
  camera_id: "Camera",
  min_risk: "Minimum risk",
  reviewed: "Reviewed events",
  page_size: "Events per page",
};

export class HomeSecurityIntelligenceCardEditor extends LitElement {
  @property({ attribute: false }) hass?: HomeAssistant;
  @state() private config?: CardConfig;
  @state() private overview?: Overview;

  setConfig(config: CardConfig): void {
    this.config = config;
  }

  protected updated(): void {
    if (this.hass && !this.overview) {
      this.overview = { servers: [], url_ttl: 0 };
      fetchOverview(this.hass).then(
        (overview) => (this.overview = overview),
        () => undefined,
      );
    }
  }

  private schema(): Record<string, unknown>[] {
    const servers = this.overview?.servers ?? [];
    const server = servers.find((s) => s.entry_id === this.config?.entry_id) ?? servers[0];
    const select = (options: { value: string; label: string }[]) => ({ select: { mode: "dropdown", options } });
    return [
      { name: "title", selector: { text: {} } },
      ...(servers.length > 1
        ? [{ name: "entry_id", selector: select(servers.map((s) => ({ value: s.entry_id, label: s.title }))) }]
        : []),
      {
        name: "camera_id",
        selector: select([
          { value: "", label: "All cameras" },
          ...(server?.cameras ?? []).map((c) => ({ value: c.id, label: c.name })),
        ]),
      },
      {
        name: "min_risk",
        selector: select(RISK_FLOORS.map(([level, floor]) => ({ value: String(floor), label: floor ? `${level} and above` : "Any" }))),
      },
      {
        name: "reviewed",
        selector: select([
          { value: "all", label: "Reviewed and not" },
          { value: "unreviewed", label: "Not reviewed" },
          { value: "reviewed", label: "Reviewed" },
        ]),
      },
      { name: "page_size", selector: { number: { min: 10, max: 100, step: 10, mode: "box" } } },
    ];
  }

  protected render(): TemplateResult {
    if (!this.hass || !this.config) return html``;
    const data = {
      camera_id: "",
      reviewed: "all",
      page_size: DEFAULT_PAGE_SIZE,
      ...this.config,
      min_risk: String(this.config.min_risk ?? 0),
    };
    return html`<ha-form
      .hass=${this.hass}
      .data=${data}
      .schema=${this.schema()}
      .computeLabel=${(field: { name: string }) => LABELS[field.name] ?? field.name}
      @value-changed=${this.changed}
    ></ha-form>`;
  }

  private changed(event: CustomEvent<{ value: Record<string, unknown> }>): void {
    const value = { ...event.detail.value };
    const config: Record<string, unknown> = { ...value, min_risk: Number(value.min_risk ?? 0) };
    // Another server picked: a camera of the one before is none of its.
    const server = this.overview?.servers.find((s) => s.entry_id === config.entry_id);
    if (server && !server.cameras.some((c) => c.id === config.camera_id)) delete config.camera_id;
    for (const key of Object.keys(config)) {
      const unset = config[key] === "" || config[key] === undefined;
      const byDefault = (key === "min_risk" && config[key] === 0) || (key === "reviewed" && config[key] === "all");
      if (unset || byDefault || (key === "page_size" && config[key] === DEFAULT_PAGE_SIZE)) delete config[key];
    }
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
  }
}
