// The stream viewer: WHEP playback that follows the stream's state from
// the overlay (offline, starting, live, ended), reconnecting when the
// publisher comes back, plus the shoppable shelf: buy in one tap in a
// sheet without leaving the video.
import { h, money } from "/assets/lib.js";
import { follow, tile } from "/assets/overlay-lib.js";
import { buy, openSheet, sheet } from "/assets/buy.js";

const streamId = decodeURIComponent(location.pathname.split("/").pop());
const video = document.getElementById("video");
const shelf = document.getElementById("overlay");
const stage = document.getElementById("stage-state");
const badge = document.getElementById("live-badge");
const app = document.getElementById("app");

let pc = null, want = null, retry = null;
const say = (state, text) => { app.dataset.state = state; stage.textContent = text; badge.hidden = state !== "live"; };

function stop() {
  clearTimeout(retry);
  if (pc) { pc.close(); pc = null; }
  video.srcObject = null;
}

async function play() {
  if (pc || want !== "LIVE") return;
  say("starting", "Starting…");
  const conn = (pc = new RTCPeerConnection());
  conn.addTransceiver("video", { direction: "recvonly" });
  conn.addTransceiver("audio", { direction: "recvonly" });
  // One stream for every track: a later ontrack (audio) must not replace the video.
  const media = new MediaStream();
  video.srcObject = media;
  conn.ontrack = (e) => media.addTrack(e.track);
  await conn.setLocalDescription(await conn.createOffer());
  await new Promise((r) => { if (conn.iceGatheringState === "complete") r(); else conn.onicegatheringstatechange = () => conn.iceGatheringState === "complete" && r(); setTimeout(r, 2000); });
  let res;
  try {
    res = await fetch("/live/" + streamId + "/whep", { method: "POST", headers: { "Content-Type": "application/sdp" }, body: conn.localDescription.sdp });
  } catch {
    res = { status: 0 };
  }
  if (pc !== conn) return conn.close(); // stopped meanwhile
  if (res.status !== 201) {
    stop();
    const busy = res.status === 429 || res.status === 503;
    say("starting", busy ? "So many fans are watching that the stream is full. We keep trying for you…" : res.status === 0 ? "You seem to be offline. We reconnect when you are back." : "Waiting for the stream…");
    const wait = busy ? Math.min(Math.max(Number(res.headers.get("Retry-After")) || 30, 5), 120) : 3;
    retry = setTimeout(play, wait * 1000);
    return;
  }
  await conn.setRemoteDescription({ type: "answer", sdp: await res.text() });
  conn.onconnectionstatechange = () => {
    if (conn.connectionState === "failed" || conn.connectionState === "closed") { if (pc === conn) { stop(); retry = setTimeout(play, 2000); } }
  };
}
video.addEventListener("playing", () => { if (want === "LIVE") say("live", ""); });

// apply follows the stream's state as the API tells it.
function apply(state) {
  want = state;
  if (state === "LIVE") { if (!pc) play().catch(() => { stop(); retry = setTimeout(play, 3000); }); return; }
  stop();
  say(state === "ENDED" ? "ended" : "offline", state === "ENDED" ? "The stream has ended. Thanks for watching!" : "The stream is offline right now. It starts here by itself — stay on this page.");
}

const onBuy = (p) => (variant) => buy({ ...variant, available: 1 }, p.product, (o) => {
  openSheet("Paid — thank you!", h("p", {}, "Order " + o.number + " · " + money(o.total) + ". Your pickup pass is in ", h("a", { href: "/orders/" + o.id }, "your orders"), "."),
    h("button", { class: "secondary wide", onclick: () => (sheet.hidden = true) }, "Back to the stream"));
}, want === "LIVE" ? { streamId } : {});

follow(streamId, video, (ev) => {
  document.getElementById("title").textContent = ev.stream.title;
  document.title = ev.stream.title + " · " + document.getElementById("shop-name").textContent;
  document.getElementById("viewers").textContent = ev.stream.state === "LIVE" ? ev.viewerCount + (ev.viewerCount === 1 ? " person" : " people") + " watching" : "";
  if (ev.stream.state !== want || (want === "LIVE" && !pc)) apply(ev.stream.state);
  shelf.replaceChildren(...ev.pinned.map((p) => tile(p, ev.highlighted && ev.highlighted.id === p.product.id, onBuy(p))));
  if (!ev.pinned.length) shelf.replaceChildren(h("p", { class: "muted" }, "Nothing pinned right now."));
});
