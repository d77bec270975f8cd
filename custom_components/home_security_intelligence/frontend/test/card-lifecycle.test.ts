// The card's lifecycle (removal, reconnects), errors and the signed-URL refresh. Each test was a
// review's finding, then tried: it failed before the fix.
import { afterEach, expect, test, vi } from "vitest";
import { ev, fakeHass, flush, mount, q, qa, server } from "./harness.js";

afterEach(() => {
  vi.useRealTimers();
  document.body.innerHTML = "";
});

test("a card removed before its first answer leaves no refresh timer behind", async () => {
  // Correct: once the card is removed (dashboard view changed, card deleted in edit mode) it asks
  // Home Assistant nothing more. card.ts:181-184 starts the url_ttl refresh after reload()'s await,
  // also when disconnectedCallback (card.ts:123-131) already ran meanwhile: the detached card then
  // calls overview + events every url_ttl/2 for the life of the page.
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  let answer!: (v: any) => void;
  const fake = fakeHass();
  const base = fake.callWS.getMockImplementation()!;
  fake.callWS.mockImplementation((msg: any) =>
    msg.type.endsWith("/overview") && !answer ? new Promise((r) => (answer = r)) : base(msg),
  );
  const card = await mount(fake);
  card.remove();
  answer({ servers: [server()], url_ttl: 3600 });
  await flush();
  const calls = fake.callWS.mock.calls.length;
  vi.advanceTimersByTime(3 * 3600 * 1000);
  await flush();
  expect(fake.callWS.mock.calls.length).toBe(calls);
});

test("a card whose first load failed loads again when Home Assistant reconnects", async () => {
  // Correct: a card opened while Home Assistant is restarting (the integration's commands not
  // registered yet: 'Unknown command') recovers once Home Assistant is back and the frontend hands
  // the card a new hass. card.ts:138-141 loads once per attachment (started stays true), and the
  // refresh timer is only set when an overview came back (card.ts:181): the error stays until the
  // browser page is reloaded.
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  let up = false;
  const fake = fakeHass({ events: () => ({ entry_id: "E1", events: [ev(1)], next_cursor: null }) });
  const base = fake.callWS.getMockImplementation()!;
  fake.callWS.mockImplementation(async (msg: any) => {
    if (!up) throw { code: "unknown_command", message: "Unknown command." };
    return base(msg);
  });
  const listeners: Record<string, ((...a: any[]) => void)[]> = {};
  fake.hass.connection.addEventListener = (type: string, cb: any) => (listeners[type] ??= []).push(cb);
  fake.hass.connection.removeEventListener = () => undefined;
  const card = await mount(fake);
  expect(q(card, ".status.error")?.textContent).toContain("Unknown command");
  // What the frontend does when Home Assistant comes back: the connection says "ready" again
  // (home-assistant-js-websocket) and the card is handed a new hass, connected again.
  card.hass = { ...fake.hass, connected: false };
  await flush();
  up = true;
  for (const cb of listeners.ready ?? []) cb(fake.hass.connection, "ready");
  card.hass = { ...fake.hass, connected: true };
  await flush();
  vi.advanceTimersByTime(3600 * 1000);
  await flush();
  await card.updateComplete;
  expect(qa(card, ".event").length).toBe(1);
  expect(q(card, ".status.error")?.textContent ?? null).toBeNull();
});

test("an error from a page load goes away once a page loads", async () => {
  // Correct: after a failed page (invalid_format, cannot_connect) a later successful page (the
  // user changes a filter) clears the error line. loadPage never clears this.error (card.ts:206-221):
  // the error stays above a timeline that loaded fine, until the next overview refresh.
  let fail = true;
  const fake = fakeHass({
    events: () => {
      if (fail) throw { code: "cannot_connect", message: "Cannot connect to the server" };
      return { entry_id: "E1", events: [ev(1)], next_cursor: null };
    },
  });
  const card = await mount(fake, { entry_id: "E1" });
  expect(q(card, ".status.error")?.textContent).toContain("Cannot connect");
  fail = false;
  const select = q(card, ".risk-filter") as HTMLSelectElement;
  select.value = "30";
  select.dispatchEvent(new Event("change"));
  select.value = "0";
  select.dispatchEvent(new Event("change"));
  await flush();
  await card.updateComplete;
  expect(qa(card, ".event").length).toBe(1);
  expect(q(card, ".status.error")?.textContent ?? null).toBeNull();
});
