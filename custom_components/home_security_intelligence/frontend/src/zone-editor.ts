// Zone editor: draw and edit a camera's zone polygons on its latest image. Click to add a point,
// drag a point to move it; saving runs the integration's zone subentry flow (api.ts saveZone), so
// the zone lands on the server, where the alert engine matches detections against it.
import { LitElement, css, html, nothing, svg, type SVGTemplateResult, type TemplateResult } from "lit";
import { property, state } from "lit/decorators.js";

import { deleteZone as deleteZoneSubentry, saveZone, type ZoneDraft } from "./api.js";
import { cardStyles } from "./styles.js";
import type { CardCamera, CardZone, HomeAssistant } from "./types.js";

const ZONE_TYPES = ["entry_point", "driveway", "sidewalk", "yard", "other"];
const DEFAULT_COLOUR = "#3B82F6";

export class HsiZoneEditor extends LitElement {
  static styles = [
    cardStyles,
    css`
      .canvas {
        /* The whole image in view while drawing: as wide as the panel allows and no taller than the
           screen leaves room for (--aspect: the image's width / height, set once it loads). */
        width: min(100%, calc((100vh - 240px) * var(--aspect, 1.333)));
        margin: 0 auto;
        position: relative;
        user-select: none;
        touch-action: none;
        cursor: crosshair;
        line-height: 0;
      }
      .canvas img {
        width: 100%;
        border-radius: 8px;
        background: #000;
      }
      svg {
        position: absolute;
        inset: 0;
        width: 100%;
        height: 100%;
        pointer-events: none;
      }
      .handle {
        position: absolute;
        width: 14px;
        height: 14px;
        margin: -7px 0 0 -7px;
        border-radius: 50%;
        background: #fff;
        border: 2px solid var(--primary-color);
        box-sizing: border-box;
        cursor: grab;
      }
      .zone-list {
        display: flex;
        gap: 6px;
        flex-wrap: wrap;
        margin: 8px 0;
      }
      .zone-list button.selected {
        outline: 2px solid var(--primary-color);
      }
      .form {
        display: flex;
        gap: 8px;
        flex-wrap: wrap;
        align-items: center;
        margin-top: 8px;
      }
      .hint {
        font-size: 0.85em;
        color: var(--secondary-text-color);
        margin: 6px 0;
      }
    `,
  ];

  @property({ attribute: false }) hass?: HomeAssistant;
  @property({ attribute: false }) entryId = "";
  @property({ attribute: false }) camera?: CardCamera;
  @property({ attribute: false }) zones: CardZone[] = [];
  @state() private draft?: ZoneDraft;
  @state() private message?: { text: string; error: boolean };
  @state() private saving = false;
  private dragging: number | null = null;

  private newZone(): void {
    this.message = undefined;
    this.draft = {
      camera_id: this.camera!.id,
      name: "",
      zone_type: "other",
      points: [],
      color: DEFAULT_COLOUR,
      priority: 0,
      shape: "polygon",
      enabled: true,
      loitering_seconds: null,
      loitering_classes: null,
      subentry_id: null,
    };
  }

  private editZone(zone: CardZone): void {
    this.message = undefined;
    this.draft = {
      camera_id: zone.camera_id,
      name: zone.name,
      zone_type: zone.zone_type,
      points: zone.coordinates.map(([x, y]) => [x, y] as [number, number]),
      color: zone.color || DEFAULT_COLOUR,
      priority: zone.priority,
      shape: zone.shape || "polygon",
      enabled: zone.enabled,
      loitering_seconds: zone.loitering_seconds ?? null,
      loitering_classes: zone.loitering_classes ?? null,
      subentry_id: zone.subentry_id,
    };
  }

  /** A pointer position as fractions of the image (the zone coordinates the server stores). */
  private position(event: PointerEvent): [number, number] {
    const box = (this.shadowRoot!.querySelector(".canvas img") as HTMLElement).getBoundingClientRect();
    const clamp = (value: number): number => Math.min(1, Math.max(0, value));
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }

  private fitCanvas(image: HTMLImageElement): void {
    if (image.naturalHeight) {
      (image.parentElement as HTMLElement).style.setProperty("--aspect", String(image.naturalWidth / image.naturalHeight));
    }
  }

  private onPointerDown(event: PointerEvent): void {
    if (!this.draft) return;
    const handle = (event.target as HTMLElement).closest(".handle") as HTMLElement | null;
    if (handle) {
      this.dragging = Number(handle.dataset.index);
      (event.currentTarget as HTMLElement).setPointerCapture(event.pointerId);
      return;
    }
    this.draft = { ...this.draft, points: [...this.draft.points, this.position(event)] };
  }

  private onPointerMove(event: PointerEvent): void {
    if (this.dragging === null || !this.draft) return;
    const points = [...this.draft.points];
    points[this.dragging] = this.position(event);
    this.draft = { ...this.draft, points };
  }

  private onPointerUp(): void {
    this.dragging = null;
  }

  private async save(): Promise<void> {
    const draft = this.draft!;
    if (!draft.name.trim() || draft.points.length < 3) {
      this.message = { text: "A zone needs a name and at least three points.", error: true };
      return;
    }
    await this.change(() => saveZone(this.hass!, this.entryId, draft), `Saved ${draft.name}.`, "Not saved");
  }

  /** Run a change of the camera's zones; on success tell the card to read the zones again. */
  private async change(action: () => Promise<unknown>, done: string, failed: string): Promise<void> {
    this.saving = true;
    try {
      await action();
      this.message = { text: done, error: false };
      this.draft = undefined;
      this.dispatchEvent(new CustomEvent("zones-changed"));
    } catch (err) {
      this.message = { text: `${failed}: ${(err as Error).message ?? err}`, error: true };
    } finally {
      this.saving = false;
    }
  }

  protected render(): TemplateResult {
    if (!this.camera) return html``;
    const draft = this.draft;
    const editing = this.zones.find((z) => draft?.subentry_id && z.subentry_id === draft.subentry_id);
    const shown = this.zones.filter((z) => z !== editing);
    const close = (): void => void this.dispatchEvent(new CustomEvent("close"));
    return html`<div class="overlay" @click=${close}>
      <div class="panel zone-editor" @click=${(e: Event) => e.stopPropagation()}>
        <div class="panel-header">
          <span class="title">Zones · ${this.camera.name}</span>
          <button class="action close" @click=${close}>Close</button>
        </div>
        <div class="zone-list">
          ${this.zones.map(
            (zone) => html`<button class="action ${editing === zone ? "selected" : ""}" data-zone=${zone.id}
              @click=${() => this.editZone(zone)}>${zone.name}</button>`,
          )}
          <button class="action primary new-zone" @click=${() => this.newZone()}>New zone</button>
        </div>
        <div class="hint">
          ${draft ? "Click the image to add points; drag a point to move it." : "Pick a zone to edit, or draw a new one."}
        </div>
        <div class="canvas" @pointerdown=${this.onPointerDown} @pointermove=${this.onPointerMove}
          @pointerup=${this.onPointerUp} @pointercancel=${this.onPointerUp}>
          <img alt=${this.camera.name} src=${this.camera.snapshot_url ?? ""} draggable="false"
            @load=${(e: Event) => this.fitCanvas(e.target as HTMLImageElement)} />
          <svg viewBox="0 0 1 1" preserveAspectRatio="none">
            ${shown.map((zone) => this.polygon(zone.coordinates, zone.color || DEFAULT_COLOUR, 0.2))}
            ${draft ? this.polygon(draft.points, draft.color, 0.35) : nothing}
          </svg>
          ${draft?.points.map(
            ([x, y], index) => html`<div class="handle" data-index=${index} style="left:${x * 100}%;top:${y * 100}%"></div>`,
          )}
        </div>
        ${draft
          ? html`<div class="form">
              <input class="zone-name" placeholder="Zone name" .value=${draft.name}
                @input=${(e: Event) => (this.draft = { ...draft, name: (e.target as HTMLInputElement).value })} />
              <select class="zone-type" @change=${(e: Event) => (this.draft = { ...draft, zone_type: (e.target as HTMLSelectElement).value })}>
                ${ZONE_TYPES.map((type) => html`<option value=${type} ?selected=${draft.zone_type === type}>${type.replace("_", " ")}</option>`)}
              </select>
              <button class="action undo" ?disabled=${!draft.points.length}
                @click=${() => (this.draft = { ...draft, points: draft.points.slice(0, -1) })}>Remove last point</button>
              <button class="action primary save-zone" ?disabled=${this.saving} @click=${() => void this.save()}>Save</button>
              ${editing ? html`<button class="action delete-zone" ?disabled=${this.saving} @click=${() => void this.change(() => deleteZoneSubentry(this.hass!, this.entryId, editing), `Deleted ${editing.name}.`, "Not deleted")}>Delete</button>` : nothing}
            </div>`
          : nothing}
        ${this.message ? html`<div class="status ${this.message.error ? "error" : "saved"}">${this.message.text}</div>` : nothing}
      </div>
    </div>`;
  }

  private polygon(points: [number, number][], colour: string, opacity: number): SVGTemplateResult {
    const outline = points.map(([x, y]) => `${x},${y}`).join(" ");
    return svg`<polygon points=${outline} fill=${colour} fill-opacity=${opacity} stroke=${colour}
      stroke-width="2" vector-effect="non-scaling-stroke"></polygon>`;
  }
}
