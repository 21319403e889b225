// Shared by the viewer page and the OBS overlay: follows streamOverlay and
// applies each event when the video shows the frame it was stamped with.
import { subscribe, h, money, intent } from "/assets/lib.js";

export const overlayQuery = `subscription($s: ID!) { streamOverlay(streamId: $s) { seq kind mediaTime rtpTimestamp viewerCount
  stream { title state } highlighted { id }
  pinned { product { id title images { url alt } } drop { state remaining } variants { available variant { id title price { amount currency currencyDigits } } } } } }`;

// follow calls render(event) in step with video (if given): an event
// stamped with RTP time T is applied once a frame at or after T is shown.
export function follow(streamId, video, render) {
  const queue = [];
  let lastSeq = 0;
  const due = (ev, frameTS) => ev.rtpTimestamp == null || frameTS == null || ((frameTS - ev.rtpTimestamp) >>> 0) < 0x80000000;
  const drain = (frameTS) => {
    while (queue.length && due(queue[0], frameTS)) render(queue.shift());
  };
  if (video && "requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_, meta) => { drain(meta.rtpTimestamp); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  }
  return subscribe(overlayQuery, { s: streamId }, (d) => {
    const ev = d.streamOverlay;
    if (ev.seq <= lastSeq && ev.kind !== "SNAPSHOT") return; // out of date
    lastSeq = ev.seq;
    const playing = video && !video.paused && video.readyState >= 2;
    if (ev.kind === "SNAPSHOT" || !playing) render(ev); // nothing to sync with yet
    else { queue.push(ev); setTimeout(() => { if (queue.includes(ev)) drain(null); }, 3000); }
  });
}

export function tile(p, highlighted, onBuy) {
  const left = p.variants.reduce((n, v) => n + v.available, 0);
  const soldOut = left === 0 || (p.drop && p.drop.state === "SOLD_OUT");
  return h("div", { class: "tile card" + (highlighted ? " highlight" : ""), "data-product": p.product.id },
    h("strong", {}, p.product.title), h("div", {}, money(p.variants[0] && p.variants[0].variant.price)),
    soldOut ? h("div", { class: "soldout" }, "Sold out") : h("div", { class: "left" }, left + " left"),
    onBuy && !soldOut ? p.variants.filter((v) => v.available > 0).map((v) => {
      const b = h("button", { class: "buy" }, "Buy " + v.variant.title);
      b.onclick = intent(b, () => onBuy(v.variant));
      return b;
    }) : null);
}
