// The card's configuration editor (a review's finding, failing before the fix).
import { afterEach, expect, test } from "vitest";
import { fakeHass, flush, server } from "./harness.js";

afterEach(() => {
  document.body.innerHTML = "";
});

test("switching the server in the editor drops a camera of the other server", async () => {
  // Correct: with two servers, picking another server in the visual editor does not keep a camera
  // filter naming a camera of the first (the new server's camera list does not have it; the card
  // would show 'No events.' for ever). editor.ts:315-323 passes every value through unchanged.
  const other = server("E2", {
    cameras: [{ id: "garden", name: "Garden", status: "online", last_seen_at: null, last_event: null, last_detection_id: null, snapshot_url: null, detection_url: null }],
  });
  const fake = fakeHass({ overview: { servers: [server("E1"), other], url_ttl: 3600 } });
  const editor = document.createElement("home-security-intelligence-card-editor") as any;
  editor.hass = fake.hass;
  editor.setConfig({ type: "custom:home-security-intelligence-card", entry_id: "E1", camera_id: "front" });
  document.body.appendChild(editor);
  await flush();
  await editor.updateComplete;
  let config: any;
  editor.addEventListener("config-changed", (e: CustomEvent) => (config = e.detail.config));
  const form = editor.shadowRoot.querySelector("ha-form");
  form.dispatchEvent(
    new CustomEvent("value-changed", { detail: { value: { ...form.data, entry_id: "E2" } } }),
  );
  expect(config.entry_id).toBe("E2");
  expect(config.camera_id).toBeUndefined();
});
