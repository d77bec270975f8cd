// The Home Security Intelligence card: camera tiles, open alerts, and a timeline of events with
// their detail (detections, clip, AI summary and reasoning, zones, review / acknowledge / dismiss),
// kept live by the integration's subscription. Loaded by the integration itself (card.py).
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from "lit";
import { property, state } from "lit/decorators.js";

import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  alertAction,
  fetchEvent,
  fetchEvents,
  fetchOverview,
  reviewEvent,
  subscribeLive,
  type EventFilters,
} from "./api.js";
import { defineWhenReady } from "./define.js";
import { HomeSecurityIntelligenceCardEditor } from "./editor.js";
import { formatDateTime, formatTime, groupByDay, objectsText, riskColour, RISK_FLOORS } from "./format.js";
import { cardStyles } from "./styles.js";
import type {
  CardAlert,
  CardCamera,
  CardConfig,
  CardEvent,
  CardServer,
  EventDetail,
  HomeAssistant,
  LiveMessage,
  Overview,
} from "./types.js";
import { HsiZoneEditor } from "./zone-editor.js";

export const CARD_TYPE = "home-security-intelligence-card";
/** Marks (Performance API) the browser test reads: card attached, first timeline page on screen. */
export const MARK_OPENED = "hsi-card:opened";
export const MARK_FIRST_PAGE = "hsi-card:first-page";
/** The measure between them (the browser test prints and bounds it). */
export const MEASURE_FIRST_PAGE = "hsi-card:time-to-first-page";

/** Enter or Space on a focusable row does what a click on it does (on the row itself, not on a button
 * inside it), so keyboard and screen-reader users open events and alerts too. */
const onActivate =
  (handler: () => void) =>
  (e: KeyboardEvent): void => {
    if ((e.key === "Enter" || e.key === " ") && e.target === e.currentTarget) {
      e.preventDefault();
      handler();
    }
  };

export class HomeSecurityIntelligenceCard extends LitElement {
  static styles = cardStyles;

  @property({ attribute: false }) hass?: HomeAssistant;
  @state() private config?: CardConfig;
  @state() private overview?: Overview;
  @state() private events: CardEvent[] = [];
  @state() private cursor: string | null = null;
  @state() private loading = false;
  @state() private error?: string;
  @state() private cameraFilter = "";
  @state() private minRisk = 0;
  @state() private reviewedFilter: "all" | "unreviewed" | "reviewed" = "all";
  @state() private detail?: EventDetail;
  @state() private detailError?: string;
  /** A failed action while the detail is open: shown in it (the card's own line is behind it). */
  @state() private actionError?: string;
  @state() private busy = new Set<string>();
  @state() private zoneCamera?: CardCamera;
  @state() private pageEntryId?: string;

  private unsubscribe?: Promise<() => Promise<void>>;
  private observer?: IntersectionObserver;
  private refreshTimer?: number;
  private pageRequest = 0;
  private detailRequest = 0;
  /** The error shown is the last page's (a page that loads clears it). */
  private pageFailed = false;
  private firstPageMarked = false;
  private openedAt?: number;
  private started = false;
  private overviewPending?: Promise<void>;

  static getConfigElement(): HTMLElement {
    return document.createElement(`${CARD_TYPE}-editor`);
  }

  static getStubConfig(): Partial<CardConfig> {
    return { title: "Security" };
  }

  setConfig(config: CardConfig): void {
    if (!config) throw new Error("Invalid configuration");
    if (config.page_size !== undefined && !(config.page_size >= 1 && config.page_size <= 100)) {
      throw new Error("page_size must be between 1 and 100");
    }
    this.config = config;
    this.cameraFilter = config.camera_id ?? "";
    this.minRisk = config.min_risk ?? 0;
    this.reviewedFilter = config.reviewed ?? "all";
    this.started = false;
    this.start();
  }

  getCardSize(): number {
    return 10;
  }

  getGridOptions(): Record<string, unknown> {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  connectedCallback(): void {
    super.connectedCallback();
    // Timed from the card's first attachment (a dashboard laying out its columns may detach and
    // re-attach it meanwhile: that time counts too).
    if (this.openedAt === undefined) {
      this.openedAt = performance.now();
      performance.mark(MARK_OPENED);
    }
    this.start();
  }

  disconnectedCallback(): void {
    super.disconnectedCallback();
    this.started = false;
    void this.unsubscribe?.then((unsub) => unsub()).catch(() => undefined);
    this.unsubscribe = undefined;
    this.observer?.disconnect();
    window.clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  protected willUpdate(changed: PropertyValues<this>): void {
    if (changed.has("hass")) {
      const before = changed.get("hass") as HomeAssistant | undefined;
      // Home Assistant is back (a restart, a lost connection): what the card shows may be stale, or
      // never came (opened while the integration was not set up yet).
      if (this.started && before?.connected === false && this.hass?.connected) void this.reload();
      this.start();
    }
  }

  /** Load once per attachment (and per configuration), as soon as hass and the config are there. */
  private start(): void {
    if (this.started || !this.hass || !this.config || !this.isConnected) return;
    this.started = true;
    void this.reload();
  }

  private get server(): CardServer | undefined {
    const servers = this.overview?.servers ?? [];
    return servers.find((s) => s.entry_id === this.entryId) ?? servers[0];
  }

  /** The server shown: the configured one, else the one the first page came from, else (several
   * servers, none configured: the integration answers no page without one) the first listed. */
  private get entryId(): string | undefined {
    return this.config?.entry_id ?? this.pageEntryId ?? this.overview?.servers[0]?.entry_id;
  }

  private get pageSize(): number {
    return this.config?.page_size ?? DEFAULT_PAGE_SIZE;
  }

  private filters(): EventFilters {
    const filters: EventFilters = {};
    if (this.cameraFilter) filters.camera_id = this.cameraFilter;
    if (this.minRisk > 0) filters.min_risk = this.minRisk;
    if (this.reviewedFilter !== "all") filters.reviewed = this.reviewedFilter === "reviewed";
    return filters;
  }

  /** Overview and the first page, the subscription, and a refresh before signed URLs expire. */
  private async reload(): Promise<void> {
    if (!this.hass) return;
    this.subscribe();
    try {
      await Promise.all([this.loadOverview(), this.loadPage(true)]);
      if (!this.pageEntryId && this.entryId) {
        // Several servers and none configured: the first page was refused; ask the one shown.
        this.error = undefined;
        await this.loadPage(true);
      }
    } catch (err) {
      this.error = String((err as Error).message ?? err);
    }
    // Not for a card removed while it waited (it would ask for ever, for nobody).
    if (this.refreshTimer === undefined && this.overview && this.started && this.isConnected) {
      const every = Math.max(60, this.overview.url_ttl / 2) * 1000;
      this.refreshTimer = window.setInterval(() => void this.refresh(), every);
    }
  }

  /** Before the signed URLs expire: the overview, every event loaded so far (each page the user
   * scrolled to, read again in pages of the largest size the integration gives, 100) and the open
   * event's detail, signed again. */
  private async refresh(): Promise<void> {
    const detail = this.detail;
    await Promise.all([
      this.loadOverview(),
      this.reloadPages(Math.max(this.pageSize, this.events.length)),
      detail ? this.openEvent(detail.event.id, true) : undefined,
    ]);
  }

  /** The first `count` events again (a page of 100 at a time), in place of those shown. */
  private async reloadPages(count: number): Promise<void> {
    await this.loadPage(true, Math.min(MAX_PAGE_SIZE, count));
    while (this.events.length < count && this.cursor) await this.loadPage(false, Math.min(MAX_PAGE_SIZE, count - this.events.length));
  }

  private loadOverview(): Promise<void> {
    // Bursts of alert messages share one request.
    this.overviewPending ??= fetchOverview(this.hass!)
      .then((overview) => {
        this.overview = overview;
        this.error = overview.servers.length ? undefined : "No Home Security Intelligence server is set up.";
      })
      .finally(() => {
        this.overviewPending = undefined;
      });
    return this.overviewPending;
  }

  private async loadPage(first: boolean, limit = this.pageSize): Promise<void> {
    if (!this.hass || (!first && !this.cursor)) return;
    const request = ++this.pageRequest;
    this.loading = true;
    try {
      const page = await fetchEvents(this.hass, this.entryId, this.filters(), limit, first ? null : this.cursor);
      if (request !== this.pageRequest) return; // filters changed meanwhile
      this.pageEntryId = page.entry_id;
      if (this.pageFailed) this.error = undefined; // a page came: the last one's failure is over
      this.pageFailed = false;
      this.events = first ? page.events : [...this.events, ...page.events.filter((e) => !this.events.some((o) => o.id === e.id))];
      this.cursor = page.next_cursor;
    } catch (err) {
      this.error = String((err as Error).message ?? err);
      this.pageFailed = true;
    } finally {
      if (request === this.pageRequest) this.loading = false;
    }
  }

  private subscribe(): void {
    if (this.unsubscribe || !this.hass) return;
    this.unsubscribe = subscribeLive(this.hass, (message) => this.onLive(message));
    this.unsubscribe.catch((err) => {
      this.unsubscribe = undefined;
      this.error = String((err as Error).message ?? err);
    });
  }

  private onLive(message: LiveMessage): void {
    if (message.entry_id !== this.entryId) return;
    if (message.kind === "event") {
      const event = message.event;
      const known = this.events.some((e) => e.id === event.id);
      if (!this.matchesFilters(event)) {
        // Reviewed under "Not reviewed", scored below the minimum: the server would not list it now.
        if (known) this.events = this.events.filter((e) => e.id !== event.id);
      } else if (known) {
        this.events = this.events.map((e) => (e.id === event.id ? event : e));
      } else if (this.withinLoaded(event)) {
        // New, or now matching (scored past the minimum after it was created): in its place.
        this.events = [...this.events, event].sort((a, b) => b.started_at.localeCompare(a.started_at) || b.id - a.id);
      }
      if (this.detail?.event.id === event.id) this.detail = { ...this.detail, event };
      if (message.action === "created") void this.loadOverview();
    } else {
      const alert = message.alert;
      if (this.detail?.event.id === alert.event_id) {
        const alerts = this.detail.alerts.some((a) => a.id === alert.id)
          ? this.detail.alerts.map((a) => (a.id === alert.id ? alert : a))
          : [alert, ...this.detail.alerts];
        this.detail = { ...this.detail, alerts };
      }
      void this.loadOverview();
    }
  }

  /** Whether an event belongs to the pages loaded: newer than the oldest shown, or all are shown. */
  private withinLoaded(event: CardEvent): boolean {
    const oldest = this.events[this.events.length - 1];
    return !this.cursor || !oldest || event.started_at >= oldest.started_at;
  }

  private matchesFilters(event: CardEvent): boolean {
    const filters = this.filters();
    return (
      (!filters.camera_id || event.camera_id === filters.camera_id) &&
      (filters.min_risk === undefined || (event.risk_score ?? 0) >= filters.min_risk) &&
      (filters.reviewed === undefined || event.reviewed === filters.reviewed)
    );
  }

  protected updated(changed: PropertyValues): void {
    // A dialog opened: the keyboard goes to it (its Close button; Escape closes it).
    if ((changed.has("detail") || changed.has("detailError")) && (this.detail || this.detailError)) {
      const wasOpen = changed.get("detail") !== undefined || changed.get("detailError") !== undefined;
      if (!wasOpen) this.shadowRoot?.querySelector<HTMLElement>(".panel.detail .close")?.focus();
    }
    if (!this.firstPageMarked && this.events.length && this.shadowRoot?.querySelector(".event")) {
      this.firstPageMarked = true;
      performance.mark(MARK_FIRST_PAGE);
      performance.measure(MEASURE_FIRST_PAGE, { start: this.openedAt, end: performance.now() });
    }
    this.observeEnd();
  }

  /** Load the next page when the end of the timeline scrolls into view. */
  private observeEnd(): void {
    const sentinel = this.shadowRoot?.querySelector(".sentinel");
    const root = this.shadowRoot?.querySelector(".timeline");
    if (!sentinel || !root) return;
    if (!this.observer) {
      this.observer = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting) && !this.loading) void this.loadPage(false);
        },
        { root, rootMargin: "200px" },
      );
    }
    this.observer.disconnect();
    this.observer.observe(sentinel);
  }

  private cameraName(cameraId: string | null): string {
    return this.server?.cameras.find((c) => c.id === cameraId)?.name ?? cameraId ?? "";
  }

  private setFilter(apply: () => void): void {
    apply();
    this.events = [];
    this.cursor = null;
    void this.loadPage(true);
  }

  /** Open an event's detail; `again`: the open one read again (its URLs signed anew), kept as it is
   * if that fails or another was opened meanwhile. */
  private async openEvent(eventId: number, again = false): Promise<void> {
    const entryId = this.entryId;
    if (!this.hass || !entryId) return;
    const request = ++this.detailRequest; // the event clicked last wins over a slower earlier answer
    if (!again) {
      this.detailError = undefined;
      this.actionError = undefined;
    }
    try {
      const detail = await fetchEvent(this.hass, entryId, eventId);
      if (request === this.detailRequest && (!again || this.detail?.event.id === eventId)) this.detail = detail;
    } catch (err) {
      if (request === this.detailRequest && !again) this.detailError = String((err as Error).message ?? err);
    }
  }

  private async act(key: string, action: () => Promise<unknown>): Promise<void> {
    this.busy = new Set([...this.busy, key]);
    try {
      await action();
    } catch (err) {
      const message = String((err as Error).message ?? err);
      if (this.detail) this.actionError = message;
      else this.error = message;
    } finally {
      const busy = new Set(this.busy);
      busy.delete(key);
      this.busy = busy;
    }
  }

  private alertButtons(alert: CardAlert): TemplateResult {
    const entryId = this.entryId!;
    const open = alert.status === "pending" || alert.status === "delivered";
    const busy = this.busy.has(alert.id);
    return html`<div class="actions">
      ${open
        ? html`<button class="action primary acknowledge" ?disabled=${busy}
              @click=${(e: Event) => { e.stopPropagation(); void this.act(alert.id, () => alertAction(this.hass!, entryId, alert.id, "acknowledge_alert")); }}>
              Acknowledge</button>`
        : nothing}
      ${alert.status !== "dismissed"
        ? html`<button class="action dismiss" ?disabled=${busy}
              @click=${(e: Event) => { e.stopPropagation(); void this.act(alert.id, () => alertAction(this.hass!, entryId, alert.id, "dismiss_alert")); }}>
              Dismiss</button>`
        : nothing}
    </div>`;
  }

  protected render(): TemplateResult {
    if (!this.config || !this.hass) return html``;
    const server = this.server;
    const alerts = server?.alerts ?? [];
    return html`<ha-card>
      <div class="header">
        <span>${this.config.title ?? "Security"}</span>
        ${alerts.length ? html`<span class="badge">${alerts.length} open alert${alerts.length > 1 ? "s" : ""}</span>` : nothing}
      </div>
      ${this.error ? html`<div class="status error">${this.error}</div>` : nothing}
      ${server?.error
        ? html`<div class="status error">${server.title} does not answer (${server.error}): its open alerts are not shown.</div>`
        : nothing}
      ${server ? this.renderCameras(server) : nothing}
      ${alerts.length ? this.renderAlerts(alerts) : nothing}
      ${server ? this.renderFilters(server) : nothing}
      ${this.renderTimeline()}
      ${this.detail || this.detailError ? this.renderDetail() : nothing}
      ${this.zoneCamera && server
        ? html`<hsi-zone-editor
            .hass=${this.hass}
            .entryId=${server.entry_id}
            .camera=${this.zoneCamera}
            .zones=${server.zones.filter((z) => z.camera_id === this.zoneCamera!.id)}
            @zones-changed=${() => void this.loadOverview()}
            @close=${() => (this.zoneCamera = undefined)}
          ></hsi-zone-editor>`
        : nothing}
    </ha-card>`;
  }

  private renderCameras(server: CardServer): TemplateResult {
    const admin = this.hass?.user?.is_admin ?? false;
    return html`<div class="cameras">
      ${server.cameras.map((camera) => {
        const level = camera.last_event?.risk_level ?? null;
        const statusColour = camera.status === "online" ? "var(--success-color, #43a047)" : "var(--error-color, #db4437)";
        const toggle = (): void =>
          this.setFilter(() => (this.cameraFilter = this.cameraFilter === camera.id ? "" : camera.id));
        return html`<div
          class="camera ${this.cameraFilter === camera.id ? "selected" : ""}"
          data-camera=${camera.id}
          title="Show only ${camera.name}"
          tabindex="0"
          role="button"
          aria-pressed=${this.cameraFilter === camera.id ? "true" : "false"}
          @click=${toggle}
          @keydown=${onActivate(toggle)}
        >
          <img alt=${camera.name} src=${camera.detection_url ?? camera.snapshot_url ?? ""} />
          ${admin
            ? html`<button class="zones-button" @click=${(e: Event) => { e.stopPropagation(); this.zoneCamera = camera; }}>Zones</button>`
            : nothing}
          <div class="info">
            <span class="dot" style="background:${statusColour}" title=${camera.status}></span>
            <span class="name">${camera.name}</span>
            ${level ? html`<span class="chip" style="background:${riskColour(level)}">${level}</span>` : nothing}
          </div>
        </div>`;
      })}
    </div>`;
  }

  private renderAlerts(alerts: CardAlert[]): TemplateResult {
    return html`<div class="section-title">Open alerts</div>
      ${alerts.map(
        (alert) => html`<div class="alert" data-alert=${alert.id} style="border-color:${riskColour(alert.severity)}"
          tabindex="0" role="button"
          @click=${() => void this.openEvent(alert.event_id)}
          @keydown=${onActivate(() => void this.openEvent(alert.event_id))}>
          ${alert.thumbnail_url ? html`<img alt="" src=${alert.thumbnail_url} />` : nothing}
          <div class="text">
            <div class="line">
              <span class="chip" style="background:${riskColour(alert.severity)}">${alert.severity}</span>
              <span>${this.cameraName(alert.camera_id)}</span>
              <span>${formatTime(this.hass!, alert.created_at)}</span>
            </div>
            <div class="summary">${alert.summary ?? objectsText(alert.object_types)}</div>
          </div>
          ${this.alertButtons(alert)}
        </div>`,
      )}`;
  }

  private renderFilters(server: CardServer): TemplateResult {
    return html`<div class="filters">
      <select class="camera-filter" aria-label="Camera"
        @change=${(e: Event) => this.setFilter(() => (this.cameraFilter = (e.target as HTMLSelectElement).value))}>
        <option value="" ?selected=${!this.cameraFilter}>All cameras</option>
        ${server.cameras.map((c) => html`<option value=${c.id} ?selected=${this.cameraFilter === c.id}>${c.name}</option>`)}
      </select>
      <select class="risk-filter" aria-label="Minimum risk"
        @change=${(e: Event) => this.setFilter(() => (this.minRisk = Number((e.target as HTMLSelectElement).value)))}>
        ${RISK_FLOORS.map(([level, floor]) => html`<option value=${floor} ?selected=${this.minRisk === floor}>${floor ? `${level} and above` : "Any risk"}</option>`)}
      </select>
      <select class="reviewed-filter" aria-label="Reviewed"
        @change=${(e: Event) => this.setFilter(() => (this.reviewedFilter = (e.target as HTMLSelectElement).value as "all"))}>
        <option value="all" ?selected=${this.reviewedFilter === "all"}>Reviewed and not</option>
        <option value="unreviewed" ?selected=${this.reviewedFilter === "unreviewed"}>Not reviewed</option>
        <option value="reviewed" ?selected=${this.reviewedFilter === "reviewed"}>Reviewed</option>
      </select>
    </div>`;
  }

  private renderTimeline(): TemplateResult {
    const hass = this.hass!;
    return html`<div class="timeline">
      ${groupByDay(hass, this.events).map(
        (day) => html`<div class="day">${day.label}</div>
          ${day.events.map(
            (event) => html`<div class="event ${event.reviewed ? "reviewed" : ""}" data-event=${event.id}
              style="border-color:${riskColour(event.risk_level)}" tabindex="0" role="button"
              @click=${() => void this.openEvent(event.id)}
              @keydown=${onActivate(() => void this.openEvent(event.id))}>
              ${event.thumbnail_url
                ? html`<img alt="" loading="lazy" src=${event.thumbnail_url} />`
                : html`<div class="noimage"></div>`}
              <div class="text">
                <div class="line">
                  <span>${formatTime(hass, event.started_at)}</span>
                  <span>${this.cameraName(event.camera_id)}</span>
                  <span class="chip" style="background:${riskColour(event.risk_level)}">
                    ${event.risk_level ?? "unscored"} ${event.risk_score ?? ""}</span>
                  <span>${objectsText(event.object_types)}</span>
                  ${event.has_clip ? html`<span title="has a clip">▶</span>` : nothing}
                </div>
                <div class="summary">${event.summary ?? ""}</div>
              </div>
            </div>`,
          )}`,
      )}
      ${!this.loading && !this.events.length && !this.error ? html`<div class="status">No events.</div>` : nothing}
      ${this.loading ? html`<div class="status">Loading…</div>` : nothing}
      <div class="sentinel"></div>
    </div>`;
  }

  private renderDetail(): TemplateResult {
    const hass = this.hass!;
    const close = (): void => {
      this.detail = undefined;
      this.detailError = undefined;
      this.actionError = undefined;
    };
    const escape = (e: KeyboardEvent): void => {
      if (e.key === "Escape") close();
    };
    if (!this.detail) {
      return html`<div class="overlay" @click=${close} @keydown=${escape}>
        <div class="panel detail" role="dialog" aria-modal="true" aria-label="Event">
          <div class="status error">${this.detailError}</div>
          <button class="action close" @click=${close}>Close</button>
        </div>
      </div>`;
    }
    const { event, detections, alerts, zones } = this.detail;
    const entryId = this.entryId!;
    const reviewKey = `review-${event.id}`;
    return html`<div class="overlay" @click=${close} @keydown=${escape}>
      <div class="panel detail" role="dialog" aria-modal="true" aria-label="Event"
        @click=${(e: Event) => e.stopPropagation()}>
        <div class="panel-header">
          <span class="chip" style="background:${riskColour(event.risk_level)}">${event.risk_level ?? "unscored"} ${event.risk_score ?? ""}</span>
          <span class="title">${this.cameraName(event.camera_id)} · ${formatDateTime(hass, event.started_at)}</span>
          <button class="action close" @click=${close}>Close</button>
        </div>
        ${event.clip_url
          ? html`<video class="clip" controls preload="metadata" playsinline src=${event.clip_url}></video>`
          : nothing}
        <div class="field"><div class="label">Summary</div><div class="event-summary">${event.summary ?? "Not analysed yet."}</div></div>
        ${event.reasoning ? html`<div class="field"><div class="label">Reasoning</div><div>${event.reasoning}</div></div>` : nothing}
        <div class="field"><div class="label">Objects</div><div>${objectsText(event.object_types)}</div></div>
        ${zones.length
          ? html`<div class="field"><div class="label">Zones</div><div class="zones-hit">${zones.map((z) => z.name).join(", ")}</div></div>`
          : nothing}
        <div class="detections">
          ${detections.map(
            (d) => html`<figure>
              ${d.thumbnail_url ? html`<img alt=${d.object_type ?? ""} src=${d.thumbnail_url} />` : nothing}
              <figcaption>${d.object_type ?? "?"} ${d.confidence !== null ? `${Math.round(d.confidence * 100)} %` : ""}
                ${d.detected_at ? formatTime(hass, d.detected_at) : ""}</figcaption>
            </figure>`,
          )}
        </div>
        ${alerts.map(
          (alert) => html`<div class="alert" data-alert=${alert.id} style="border-color:${riskColour(alert.severity)}">
            <div class="text"><div class="line">
              <span class="chip" style="background:${riskColour(alert.severity)}">${alert.severity}</span>
              <span class="alert-status">${alert.status}</span>
              <span>${formatTime(hass, alert.created_at)}</span>
            </div></div>
            ${this.alertButtons(alert)}
          </div>`,
        )}
        ${this.actionError ? html`<div class="status error">${this.actionError}</div>` : nothing}
        <div class="actions">
          <button class="action review" ?disabled=${this.busy.has(reviewKey)}
            @click=${() => void this.act(reviewKey, () => reviewEvent(hass, entryId, event.id, !event.reviewed))}>
            ${event.reviewed ? "Mark not reviewed" : "Mark reviewed"}</button>
        </div>
      </div>
    </div>`;
  }
}

declare global {
  interface Window {
    customCards?: { type: string; name: string; description: string; preview?: boolean; documentationURL?: string }[];
  }
}

defineWhenReady(
  [
    [CARD_TYPE, HomeSecurityIntelligenceCard],
    [`${CARD_TYPE}-editor`, HomeSecurityIntelligenceCardEditor],
    ["hsi-zone-editor", HsiZoneEditor],
  ],
  () => {
    // Announced to the card picker only once the element exists where the picker looks for it.
    window.customCards = window.customCards ?? [];
    if (!window.customCards.some((card) => card.type === CARD_TYPE)) {
      window.customCards.push({
        type: CARD_TYPE,
        name: "Home Security Intelligence",
        description: "Cameras, open alerts and a timeline of security events with thumbnails, clips and AI summaries.",
        preview: true,
        documentationURL:
          "https://github.com/home-security-intelligence/home-security-intelligence/blob/main/docs/home-assistant.md#the-security-card",
      });
    }
  },
);
