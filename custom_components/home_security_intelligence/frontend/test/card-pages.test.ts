// The card's paging and servers (see card.test.ts).
import { afterEach, expect, test, vi } from "vitest";
import { ev, fakeHass, flush, mount, qa, server } from "./harness.js";

afterEach(() => {
  vi.useRealTimers();
  document.body.innerHTML = "";
});

test("the signed-URL refresh keeps the pages the user has scrolled to", async () => {
  // Correct: the periodic refresh (before signed URLs expire) keeps the events already loaded
  // (re-signing them). card.ts:167-168 reloads only the first page and card.ts:192 replaces the
  // list with it: a user who scrolled to page 2 loses it (and the scroll position) every url_ttl/2.
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  const all = [ev(1), ev(2), ev(3), ev(4)];
  const fake = fakeHass({
    // As the integration pages: `limit` events from the cursor's offset on.
    events: (msg) => {
      const start = msg.cursor ? Number(msg.cursor) : 0;
      const end = start + msg.limit;
      return { entry_id: "E1", events: all.slice(start, end), next_cursor: end < all.length ? String(end) : null };
    },
  });
  const card = await mount(fake, { page_size: 2 });
  await card.loadPage(false); // what the IntersectionObserver does when the end scrolls into view
  await flush();
  expect(qa(card, ".event").length).toBe(4);
  vi.advanceTimersByTime(3600 * 1000);
  await flush();
  expect(qa(card, ".event").length).toBe(4);
});

test("a card without entry_id on a home with two servers still shows a timeline", async () => {
  // Correct: the card (stub config has no entry_id) picks the server it shows (servers[0], as it
  // already does for cameras and alerts, card.ts:132) and asks for its events. card.ts:189 sends no
  // entry_id before a page came back, which the integration refuses with two servers
  // (websocket_api.py _target: "Name a loaded server"): the card shows an error and no events.
  const fake = fakeHass({
    overview: { servers: [server("E1"), server("E2")], url_ttl: 3600 },
    events: (msg) => {
      if (!msg.entry_id) throw new Error("Name a loaded server (entry_id)");
      return { entry_id: msg.entry_id, events: [ev(1)], next_cursor: null };
    },
  });
  const card = await mount(fake);
  await flush();
  expect(qa(card, ".event").length).toBe(1);
});
