// The zone editor's save through the zone subentry flow: what the card does not edit stays as it
// is (a review's findings, failing before the fix).
import { afterEach, expect, test, vi } from "vitest";
import { flush } from "./harness.js";

afterEach(() => {
  document.body.innerHTML = "";
});

const zone = (extra: Record<string, unknown> = {}): any => ({
  id: "z1",
  camera_id: "front",
  name: "Porch",
  zone_type: "entry_point",
  coordinates: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
  shape: "polygon",
  color: "#ff0000",
  enabled: true,
  priority: 2,
  loitering_seconds: null,
  loitering_classes: null,
  object_filters: null,
  subentry_id: "sub1",
  ...extra,
});

async function editAndSave(z: any): Promise<Record<string, unknown>> {
  const callApi = vi.fn(async (_method: string, path: string) =>
    path.endsWith("/flow") ? { flow_id: "f1", type: "form" } : { flow_id: "f1", type: "abort", reason: "reconfigure_successful" },
  );
  const editor = document.createElement("hsi-zone-editor") as any;
  editor.hass = { callApi, callWS: vi.fn(), language: "en", config: { time_zone: "UTC" } };
  editor.entryId = "E1";
  editor.camera = { id: "front", name: "Front", status: "online", snapshot_url: null, detection_url: null };
  editor.zones = [z];
  document.body.appendChild(editor);
  await editor.updateComplete;
  (editor.shadowRoot.querySelector('[data-zone="z1"]') as HTMLElement).click();
  await editor.updateComplete;
  (editor.shadowRoot.querySelector(".save-zone") as HTMLElement).click();
  await flush();
  expect(callApi).toHaveBeenCalledTimes(2);
  return callApi.mock.calls[1][2] as Record<string, unknown>;
}

test("saving a disabled zone from the card keeps it disabled", async () => {
  // Correct: opening a disabled zone in the card's editor and saving it (e.g. to move a point or
  // rename it) leaves it disabled. api.ts saveZone always sends enabled: true, so the zone is
  // silently switched back on and starts raising alerts again.
  const body = await editAndSave(zone({ enabled: false }));
  expect(body.enabled).toBe(false);
});

test("saving a zone from the card keeps its loitering settings", async () => {
  // Correct: the zone's loitering time and classes (set in the zone subentry form) survive a save
  // from the card. saveZone sends neither; the flow's loitering_body turns the absent fields into
  // None and the server's zone loses its loitering rule.
  const body = await editAndSave(zone({ loitering_seconds: 30, loitering_classes: ["person"] }));
  expect(body.loitering_seconds).toBe(30);
  expect(body.loitering_classes).toEqual(["person"]);
});
