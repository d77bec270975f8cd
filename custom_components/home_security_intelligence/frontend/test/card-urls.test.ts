// Signed media URLs (url_ttl) and the timeline's pages (each test a review's finding, failing before the fix).
import { afterEach, expect, test, vi } from "vitest";
import { ev, fakeHass, flush, mount, q, qa } from "./harness.js";

afterEach(() => {
  vi.useRealTimers();
  document.body.innerHTML = "";
});

test("the signed-URL refresh keeps a timeline scrolled past 100 events", async () => {
  // Correct: the refresh before the signed URLs expire keeps every event the user scrolled to.
  // card.ts:190 asks one page of at most 100 and card.ts:214 replaces the list with it: a user 3
  // pages (150 events) down loses 50 events and the scroll position every url_ttl/2.
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  const all = Array.from({ length: 200 }, (_, i) => ev(i + 1));
  const fake = fakeHass({
    events: (msg) => {
      const start = msg.cursor ? Number(msg.cursor) : 0;
      const end = start + msg.limit;
      return { entry_id: "E1", events: all.slice(start, end), next_cursor: end < all.length ? String(end) : null };
    },
  });
  const card = await mount(fake);
  await card.loadPage(false);
  await card.loadPage(false);
  await flush();
  expect(qa(card, ".event").length).toBe(150);
  vi.advanceTimersByTime(3600 * 1000);
  await flush();
  await card.updateComplete;
  expect(qa(card, ".event").length).toBe(150);
});

test("an open event detail's clip is signed again before its URL expires", async () => {
  // Correct: the detail's clip (and detection images) stay playable while the detail is open, as the
  // timeline's thumbnails do. The refresh (card.ts:189-191) re-signs the overview and the timeline
  // only; this.detail keeps the URLs fetched when it was opened, which expire after url_ttl.
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  let version = 0;
  const signed = (id: number) => ev(id, { has_clip: true, clip_url: `/clip/${id}?v=${version}` });
  const fake = fakeHass({
    events: () => ({ entry_id: "E1", events: [signed(1)], next_cursor: null }),
    event: () => ({ event: signed(1), detections: [], alerts: [], zones: [] }),
  });
  const card = await mount(fake);
  (q(card, '.event[data-event="1"]') as HTMLElement).click();
  await flush();
  expect(q(card, "video.clip")?.getAttribute("src")).toBe("/clip/1?v=0");
  version = 1; // the URLs signed from now on
  vi.advanceTimersByTime(3600 * 1000);
  await flush();
  await card.updateComplete;
  expect(q(card, "video.clip")?.getAttribute("src")).toBe("/clip/1?v=1");
});
